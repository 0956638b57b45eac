// The long jobs (backup, restore, generating slots, encrypting) as the shell
// reports them (src-tauri/src/jobs.rs): one subscription per page, shared by every
// admin tab, so a job started here or in another window shows its progress
// wherever the admin goes and comes back. The shell enforces one job of a kind at
// a time; the disabled buttons only save a refused click.
import { Channel } from "@tauri-apps/api/core";
import { call } from "../lib/api";
import type { JobKind } from "../bindings/JobKind";
import type { JobProgress } from "../bindings/JobProgress";
import type { Progress } from "../bindings/Progress";

/** The running jobs and their latest report (`null`: running, nothing reported yet). */
export const jobs: Partial<Record<JobKind, Progress | null>> = $state({});

let subscribed = false;

/** Subscribes this page to the jobs' progress (once; later calls do nothing). */
export function watchJobs(): void {
  if (subscribed) return;
  subscribed = true;
  const channel = new Channel<JobProgress>();
  channel.onmessage = (m) => {
    if (m.progress) jobs[m.job] = m.progress;
    else delete jobs[m.job];
  };
  call<JobKind[]>("watch_jobs", { onProgress: channel })
    .then((running) => {
      for (const kind of running) if (!(kind in jobs)) jobs[kind] = null;
    })
    .catch(() => {
      subscribed = false;
    });
}

const count = (n: number) => n.toLocaleString("en-US");
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** What a job is doing, in words ("Copying pages 1,200 of 5,000"). */
export function jobText(kind: JobKind, p: Progress | null | undefined): string {
  if (!p) return "Starting…";
  const of = p.total === null ? "" : ` ${count(p.done)} of ${count(p.total)}`;
  const rewrite = kind === "ConvertDatabase";
  switch (p.phase) {
    case "CopyingPages":
      return `Copying pages${of}`;
    case "CheckingBackup":
      return kind === "Restore" ? "Checking the backup" : "Checking the new backup";
    case "Fingerprinting":
      return p.total === null
        ? "Fingerprinting the backup"
        : `Fingerprinting the backup: ${mb(p.done)} of ${mb(p.total)}`;
    case "CopyingBackup": {
      const what = rewrite ? "Copying the encrypted database" : "Copying the backup next to the database";
      return p.total === null ? what : `${what}: ${mb(p.done)} of ${mb(p.total)}`;
    }
    case "CheckingCopy":
      return rewrite ? "Checking the encrypted copy" : "Checking the copy";
    case "SavingSafetyCopy":
      return `Keeping a safety copy of the current database: pages${of}`;
    case "CheckingSafetyCopy":
      return "Checking the safety copy";
    case "SwappingIn":
      return rewrite ? "Putting the encrypted database in place" : "Putting the restored database in place";
    case "Encrypting":
      return rewrite ? "Encrypting the database" : "Encrypting the restored copy";
    case "PlanningSlots":
      return "Planning the slots";
    case "WritingSlots":
      return `Writing slots: part${of}`;
  }
}
