//! `frontdesk export appointments|patients|day-sheet`: CSV to stdout or a file,
//! and a printable day sheet as text or HTML.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use frontdesk::domain::clinic::parse_date;
use frontdesk::Error;

use crate::Ctx;

#[derive(Subcommand)]
pub enum ExportCmd {
    /// Appointments whose slot starts on the days FROM..=TO (clinic time), as CSV
    Appointments {
        /// First day, YYYY-MM-DD
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD
        #[arg(long)]
        to: String,
        /// Write to this file instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Every patient, as CSV
    Patients {
        /// Write to this file instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// A printable day sheet per doctor
    DaySheet {
        /// The day, YYYY-MM-DD
        #[arg(long)]
        day: String,
        /// Only this doctor (id)
        #[arg(long)]
        doctor: Option<i64>,
        /// text or html
        #[arg(long, value_enum, default_value_t = SheetFormat::Text)]
        format: SheetFormat,
        /// Write to this file instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SheetFormat {
    Text,
    Html,
}

fn sink(out: &Option<PathBuf>) -> Result<Box<dyn Write>, Error> {
    Ok(match out {
        Some(p) => Box::new(BufWriter::new(File::create(p).map_err(|e| {
            Error::invalid(format!("cannot create {}: {e}", p.display()))
        })?)),
        None => Box::new(BufWriter::new(crate::output::Answer)),
    })
}

/// With `--out`, a one-line summary (or JSON) on stdout; without, the data itself.
fn done(ctx: &Ctx, out: &Option<PathBuf>, what: &str, rows: u64) {
    if let Some(p) = out {
        ctx.out
            .print(&serde_json::json!({ "file": p, "rows": rows }), || {
                format!("Wrote {rows} {what} to {}.", p.display())
            });
    }
}

pub fn export(ctx: &Ctx, cmd: ExportCmd) -> Result<(), Error> {
    match cmd {
        ExportCmd::Appointments { from, to, out } => {
            let (from, to) = (parse_date(&from)?, parse_date(&to)?);
            let n = ctx
                .desk
                .export_appointments_csv(&ctx.actor, from, to, sink(&out)?)?;
            done(ctx, &out, "appointments", n);
        }
        ExportCmd::Patients { out } => {
            let n = ctx.desk.export_patients_csv(&ctx.actor, sink(&out)?)?;
            done(ctx, &out, "patients", n);
        }
        ExportCmd::DaySheet {
            day,
            doctor,
            format,
            out,
        } => {
            let sheet = ctx.desk.day_sheet(&ctx.actor, parse_date(&day)?, doctor)?;
            if ctx.out.json && out.is_none() {
                ctx.out.print(&sheet, String::new);
                return Ok(());
            }
            let text = match format {
                SheetFormat::Text => sheet.to_text(),
                SheetFormat::Html => sheet.to_html(),
            };
            let mut w = sink(&out)?;
            w.write_all(text.as_bytes())
                .and_then(|()| w.flush())
                .map_err(|e| Error::invalid(format!("cannot write the day sheet: {e}")))?;
            drop(w);
            done(
                ctx,
                &out,
                "day-sheet lines",
                sheet.doctors.iter().map(|d| d.lines.len() as u64).sum(),
            );
        }
    }
    Ok(())
}
