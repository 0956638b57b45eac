// The long jobs (backup, restore, generating slots, encrypting) as the shell
// reports them (src-tauri/src/jobs.rs): one subscription per page, shared by every
// admin tab, so a job started here or in another window shows its progress
// wherever the admin goes and comes back, and so does how it ended: a job that
// failed while the admin was on another screen shows its error when they come
// back. The shell enforces one job of a kind at a time; the disabled buttons only
// save a refused click.
import { decimal, number, t } from "../lib/i18n.svelte";
import { Channel } from "@tauri-apps/api/core";
import { call } from "../lib/api";
import { problemText } from "./problem";
import type { JobKind } from "../bindings/JobKind";
import type { JobOutcome } from "../bindings/JobOutcome";
import type { JobProgress } from "../bindings/JobProgress";
import type { Progress } from "../bindings/Progress";

/** The running jobs and their latest report (`null`: running, nothing reported yet). */
export const jobs: Partial<Record<JobKind, Progress | null>> = $state({});

/** How the last job of each kind that is not running now ended. */
export const ended: Partial<Record<JobKind, JobOutcome>> = $state({});

/** Why the last `kind` job failed, in words; `null` when it did not (or one runs). */
export function jobFailure(kind: JobKind): string | null {
  const error = ended[kind]?.error;
  return error && !(kind in jobs) ? problemText(error) : null;
}

let subscribed = false;

/** Subscribes this page to the jobs' progress (once; later calls do nothing). */
export function watchJobs(): void {
  if (subscribed) return;
  subscribed = true;
  const channel = new Channel<JobProgress>();
  channel.onmessage = (m) => {
    if (m.progress) {
      jobs[m.job] = m.progress;
      delete ended[m.job];
    } else {
      delete jobs[m.job];
      if (m.outcome) ended[m.job] = m.outcome;
    }
  };
  call<JobKind[]>("watch_jobs", { onProgress: channel })
    .then((running) => {
      for (const kind of running) if (!(kind in jobs)) jobs[kind] = null;
    })
    .catch(() => {
      subscribed = false;
    });
}

const mb = (n: number) => `${decimal(n / 1024 / 1024, 1)} MB`;

/** What a job is doing, in words ("Copying pages 1,200 of 5,000"), in the desk's language. */
export function jobText(kind: JobKind, p: Progress | null | undefined): string {
  const m = t.job;
  if (!p) return m.starting;
  const of = p.total === null ? "" : m.of(number(p.done), number(p.total));
  const rewrite = kind === "ConvertDatabase";
  switch (p.phase) {
    case "CopyingPages":
      return m.copyingPages(of);
    case "CheckingBackup":
      return kind === "Restore" ? m.checkingBackup : m.checkingNewBackup;
    case "Fingerprinting":
      return p.total === null ? m.fingerprinting : `${m.fingerprinting}:${m.of(mb(p.done), mb(p.total))}`;
    case "CopyingBackup": {
      const what = rewrite ? m.copyingEncrypted : m.copyingBackup;
      return p.total === null ? what : `${what}:${m.of(mb(p.done), mb(p.total))}`;
    }
    case "CheckingCopy":
      return rewrite ? m.checkingEncryptedCopy : m.checkingCopy;
    case "SavingSafetyCopy":
      return m.savingSafetyCopy(of);
    case "CheckingSafetyCopy":
      return m.checkingSafetyCopy;
    case "SwappingIn":
      return rewrite ? m.swappingEncrypted : m.swappingRestored;
    case "Encrypting":
      return rewrite ? m.encrypting : m.encryptingRestored;
    case "PlanningSlots":
      return m.planningSlots;
    case "WritingSlots":
      return m.writingSlots(of);
  }
}
