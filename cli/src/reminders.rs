//! Appointment reminders (`reminders send`): what a timer runs when no desk is
//! open (every open desk sends them too).

use clap::Subcommand;
use frontdesk::Error;

use crate::Ctx;

#[derive(Subcommand)]
pub enum RemindersCmd {
    /// Send the appointment reminders that are due now (each exactly once, however
    /// many desks and runs go at once); for a timer, e.g. every 5 minutes. Exit 3
    /// when reminders are on but no sender is set up on this PC
    Send,
}

pub fn reminders(ctx: &Ctx, cmd: RemindersCmd) -> Result<(), Error> {
    match cmd {
        RemindersCmd::Send => {
            let r = ctx.desk.send_due_reminders(&ctx.actor)?;
            if let (true, Some(problem)) = (r.enabled, &r.problem) {
                // a timer must notice that nothing can go out
                return Err(Error::Unusable(format!("no reminder was sent: {problem}")));
            }
            ctx.out.print(&serde_json::json!({ "reminders": r }), || {
                if !r.enabled {
                    return "Reminders are off (settings set reminder.lead 24h, or day_before 17:00, turns them on).".into();
                }
                let mut text = format!("{} sent, {} failed", r.sent, r.failed);
                if r.skipped > 0 {
                    text += &format!(
                        ", {} not sent (the phone cannot receive text messages)",
                        r.skipped
                    );
                }
                text += ".";
                if r.taken_over > 0 {
                    text += &format!(
                        " {} taken over by another desk while this run was sending them.",
                        r.taken_over
                    );
                }
                text
            });
        }
    }
    Ok(())
}
