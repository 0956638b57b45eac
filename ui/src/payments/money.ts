// Money as the desk shows and types it. Amounts travel as integer minor units
// (cents) with the clinic's currency; the core checks every amount it is sent.
import type { PaymentMethod } from "../bindings/PaymentMethod";
import type { LedgerKind } from "../bindings/LedgerKind";
import { locale, t } from "../lib/i18n.svelte";

/** Minor units per major unit (ISO 4217 exponents; mirrors `minor_per_major`). */
function scale(currency: string): number {
  if (["JPY", "KRW", "ISK", "CLP", "VND", "XAF", "XOF", "HUF"].includes(currency)) return 1;
  if (["BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"].includes(currency)) return 1000;
  return 100;
}

/** "€20.00" / "20,00 €" in the clinic's locale, for a minor-unit amount. */
export function formatMoney(minor: number, currency: string): string {
  const s = scale(currency);
  const digits = s === 1 ? 0 : s === 1000 ? 3 : 2;
  try {
    return new Intl.NumberFormat(locale.tag, {
      style: "currency",
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(minor / s);
  } catch {
    return `${(minor / s).toFixed(digits)} ${currency}`;
  }
}

/** "12.50", "12,5", "12" → minor units; null when it is not an amount. */
export function parseMoney(text: string, currency: string): number | null {
  const t = text.trim();
  const s = scale(currency);
  const digits = s === 1 ? 0 : s === 1000 ? 3 : 2;
  const m = /^(\d{0,9})(?:[.,](\d*))?$/.exec(t);
  if (!m || (m[1] === "" && !m[2]) || (m[2]?.length ?? 0) > digits) return null;
  const frac = (m[2] ?? "").padEnd(digits, "0");
  return Number(m[1] || "0") * s + (digits ? Number(frac) : 0);
}

/** Minor units as typed into an amount field ("20.00", "20,00" in German). */
export function amountText(minor: number, currency: string): string {
  const s = scale(currency);
  const digits = s === 1 ? 0 : s === 1000 ? 3 : 2;
  const text = (minor / s).toFixed(digits);
  return locale.lang === "de" ? text.replace(".", ",") : text;
}

export const METHODS: PaymentMethod[] = ["CASH", "CARD", "TRANSFER", "INVOICE", "INSURANCE"];

export const METHOD_TEXT: Record<PaymentMethod, string> = new Proxy({} as Record<PaymentMethod, string>, {
  get: (_, k: string) => t.method[k as PaymentMethod],
});

export const KIND_TEXT: Record<LedgerKind, string> = new Proxy({} as Record<LedgerKind, string>, {
  get: (_, k: string) => t.kind[k as LedgerKind],
});
