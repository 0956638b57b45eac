// The database key (src-tauri/src/commands/keys.rs): unlocking on a new computer,
// whether the database is encrypted, the recovery key, encrypting / changing the key.
import { call } from "../lib/api";
import type { Conversion } from "../bindings/Conversion";
import type { ConversionReport } from "../bindings/ConversionReport";
import type { Encryption } from "../bindings/Encryption";
import type { RecoveryKey } from "../bindings/RecoveryKey";

/** Opens the database with the recovery key; resolves with the key id. */
export const unlockDatabase = (recoveryKey: string) =>
  call<string>("unlock_database", { recoveryKey }, { signedOutIsExpected: true });
export const encryptionStatus = () => call<Encryption>("encryption_status");
/** Admins; every showing is audited. */
export const showRecoveryKey = () => call<RecoveryKey>("show_recovery_key");
/** Admins; every other desk must be closed. */
export const convertDatabase = (conversion: Conversion) =>
  call<ConversionReport>("convert_database", { conversion });

/** Prints only the recovery key card (the page's print stylesheet hides the rest). */
export function printRecoveryKey(): void {
  document.body.classList.add("printing-key");
  const done = () => {
    document.body.classList.remove("printing-key");
    window.removeEventListener("afterprint", done);
  };
  window.addEventListener("afterprint", done);
  try {
    window.print();
  } finally {
    // WebKit's print() returns once the dialog closed; afterprint may not fire
    setTimeout(done, 1000);
  }
}
