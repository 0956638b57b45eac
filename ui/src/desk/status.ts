// How an appointment status reads on screen: text and an icon, colour only
// reinforces it (UI.md "Day view").
import type { AppointmentStatus } from "../bindings/AppointmentStatus";
import type { Action } from "../bindings/Action";
import { t } from "../lib/i18n.svelte";
import { CHANGE_ACTION, NEXT_STATUSES, OPEN_STATUSES } from "../bindings/statusMachine";

/** One label per status everywhere, in the desk's language. */
export const STATUS_TEXT: Record<AppointmentStatus, string> = new Proxy({} as Record<AppointmentStatus, string>, {
  get: (_, k: string) => t.status[k as AppointmentStatus],
});

export const STATUS_ICON: Record<AppointmentStatus, string> = {
  PENDING: "◌",
  CONFIRMED: "✓",
  ARRIVED: "➜",
  COMPLETED: "✔",
  CANCELLED: "✕",
  NO_SHOW: "⊘",
};

/** What a drawer's button for a change to each status says (cancelling has its own form). */
const STEP_LABEL: Record<AppointmentStatus, string> = new Proxy({} as Record<AppointmentStatus, string>, {
  get: (_, k: string) => t.step[k as AppointmentStatus],
});

export type NextStep = { to: AppointmentStatus; label: string; action: Action };

/**
 * The buttons an appointment drawer offers for a status: every change the core's
 * state machine allows (generated from Rust into `bindings/statusMachine.ts`), with
 * the action each needs, except cancelling, which has a form of its own.
 */
export function nextSteps(status: AppointmentStatus): NextStep[] {
  return NEXT_STATUSES[status]
    .filter((to) => to !== "CANCELLED")
    .map((to) => ({ to, label: STEP_LABEL[to], action: CHANGE_ACTION[to] }));
}

/** Statuses from which an appointment may still be cancelled or rescheduled. */
export function isOpen(status: AppointmentStatus): boolean {
  return OPEN_STATUSES.includes(status);
}
