// How an appointment status reads on screen: text and an icon, colour only
// reinforces it (UI.md "Day view").
import type { AppointmentStatus } from "../bindings/AppointmentStatus";
import type { Action } from "../bindings/Action";

export const STATUS_TEXT: Record<AppointmentStatus, string> = {
  PENDING: "Pending",
  CONFIRMED: "Confirmed",
  ARRIVED: "Arrived",
  COMPLETED: "Completed",
  CANCELLED: "Cancelled",
  NO_SHOW: "No-show",
};

export const STATUS_ICON: Record<AppointmentStatus, string> = {
  PENDING: "◌",
  CONFIRMED: "✓",
  ARRIVED: "➜",
  COMPLETED: "✔",
  CANCELLED: "✕",
  NO_SHOW: "⊘",
};

/** The buttons an appointment drawer offers for a status (the core decides). */
export const NEXT_STEPS: Record<
  AppointmentStatus,
  { to: AppointmentStatus; label: string; action: Action }[]
> = {
  PENDING: [{ to: "CONFIRMED", label: "Confirm", action: "Confirm" }],
  CONFIRMED: [
    { to: "ARRIVED", label: "Check in", action: "CheckIn" },
    { to: "NO_SHOW", label: "No-show", action: "MarkNoShow" },
  ],
  ARRIVED: [{ to: "COMPLETED", label: "Complete", action: "Complete" }],
  COMPLETED: [],
  CANCELLED: [],
  NO_SHOW: [],
};

/** Statuses from which an appointment may still be cancelled or rescheduled. */
export function isOpen(status: AppointmentStatus): boolean {
  return status === "PENDING" || status === "CONFIRMED";
}
