// What the day and week grids share: which cells are free, and how the arrow
// keys move the focus.
import type { SlotView } from "../bindings/SlotView";

/** A slot with no live ordinary appointment that is not blocked. */
export function isFree(s: SlotView): boolean {
  return !s.slot.blocked && !s.appointments.some((a) => !a.overbooked);
}

/** The (row, column) step of an arrow key, or undefined for any other key. */
export function arrowStep(key: string): [number, number] | undefined {
  const steps: Record<string, [number, number]> = {
    ArrowUp: [-1, 0],
    ArrowDown: [1, 0],
    ArrowLeft: [0, -1],
    ArrowRight: [0, 1],
  };
  return steps[key];
}
