// Typed wrappers over the patient, waitlist, schedule and admin commands
// (src-tauri/src/commands/{patients,waitlist,schedule,admin,operations}.rs).
// Every type comes from Rust through ts-rs; nothing here restates a rule.
import { call } from "../lib/api";
import type { Appointment } from "../bindings/Appointment";
import type { AuditEvent } from "../bindings/AuditEvent";
import type { AuditFilter } from "../bindings/AuditFilter";
import type { BackupCheck } from "../bindings/BackupCheck";
import type { BackupResult } from "../bindings/BackupResult";
import type { ClinicSettings } from "../bindings/ClinicSettings";
import type { DaySheet } from "../bindings/DaySheet";
import type { DeliveryReport } from "../bindings/DeliveryReport";
import type { Doctor } from "../bindings/Doctor";
import type { GenerationReport } from "../bindings/GenerationReport";
import type { MetricsSnapshot } from "../bindings/MetricsSnapshot";
import type { NewPatient } from "../bindings/NewPatient";
import type { NewStaff } from "../bindings/NewStaff";
import type { NewTemplate } from "../bindings/NewTemplate";
import type { NewTimeOff } from "../bindings/NewTimeOff";
import type { NewWaitlistEntry } from "../bindings/NewWaitlistEntry";
import type { PasscodeSent } from "../bindings/PasscodeSent";
import type { OutboxMessage } from "../bindings/OutboxMessage";
import type { Patient } from "../bindings/Patient";
import type { NextAppointment } from "../bindings/NextAppointment";
import type { PatientAttendance } from "../bindings/PatientAttendance";
import type { PhoneVerified } from "../bindings/PhoneVerified";
import type { Report } from "../bindings/Report";
import type { ReportPeriod } from "../bindings/ReportPeriod";
import type { RestoreReport } from "../bindings/RestoreReport";
import type { SenderStatus } from "../bindings/SenderStatus";
import type { Role } from "../bindings/Role";
import type { Setting } from "../bindings/Setting";
import type { SlotView } from "../bindings/SlotView";
import type { StaffMember } from "../bindings/StaffMember";
import type { Template } from "../bindings/Template";
import type { TimeOff } from "../bindings/TimeOff";
import type { WaitlistEntry } from "../bindings/WaitlistEntry";
import type { SavedExport } from "../bindings/SavedExport";

// Patients
export const searchPatients = (text: string) => call<Patient[]>("search_patients", { text });
/** Each patient's next upcoming appointment, by patient id (for search results). */
export async function nextAppointments(ids: number[]): Promise<Map<number, NextAppointment>> {
  const m = new Map<number, NextAppointment>();
  if (ids.length === 0) return m;
  for (const n of await call<NextAppointment[]>("next_appointments", { patientIds: ids.slice(0, 100) }))
    m.set(n.patient_id, n);
  return m;
}
export const getPatient = (patientId: number) => call<Patient>("get_patient", { patientId });
export const updatePatient = (patientId: number, expectedVersion: number, details: NewPatient) =>
  call<Patient>("update_patient", { patientId, expectedVersion, details });
export const setRemindersOptOut = (patientId: number, optOut: boolean) =>
  call<Patient>("set_reminders_opt_out", { patientId, optOut });
export const patientAppointments = (patientId: number) =>
  call<Appointment[]>("patient_appointments", { patientId });
export const patientAttendance = (patientId: number) =>
  call<PatientAttendance>("patient_attendance", { patientId });
export const requestPhonePasscode = (phone: string) =>
  call<PasscodeSent>("request_phone_passcode", { phone });
export const verifyPhonePasscode = (phone: string, code: string) =>
  call<PhoneVerified>("verify_phone_passcode", { phone, code });

// Waitlist
export const waitlistList = (doctorId: number | null) =>
  call<WaitlistEntry[]>("waitlist_list", { doctorId });
export const waitlistAdd = (entry: NewWaitlistEntry) =>
  call<WaitlistEntry>("waitlist_add", { entry });
export const waitlistRemove = (entryId: number) =>
  call<WaitlistEntry>("waitlist_remove", { entryId });
export const waitlistMatches = (slotId: number) =>
  call<WaitlistEntry[]>("waitlist_matches", { slotId });
export const bookFromWaitlist = (entryId: number, slotId: number) =>
  call<Appointment>("book_from_waitlist", { entryId, slotId });
export const doctorDaySlots = (doctorId: number, date: string) =>
  call<SlotView[]>("doctor_day_slots", { doctorId, date });

// Schedule
export const scheduleDoctors = () => call<Doctor[]>("schedule_doctors");
export const listTemplates = (doctorId: number | null) =>
  call<Template[]>("list_templates", { doctorId });
export const addTemplate = (template: NewTemplate) =>
  call<Template>("add_template", { template });
export const removeTemplate = (templateId: number) =>
  call<null>("remove_template", { templateId });
export const listTimeOff = (doctorId: number | null) =>
  call<TimeOff[]>("list_time_off", { doctorId });
export const addTimeOff = (timeOff: NewTimeOff) => call<TimeOff>("add_time_off", { timeOff });
export const removeTimeOff = (timeOffId: number) =>
  call<null>("remove_time_off", { timeOffId });
// a preview (dryRun) returns a preview_token; applying with it is refused (Conflict)
// if anything the preview showed changed meanwhile
export const generateSlots = (
  from: string,
  to: string,
  doctorId: number | null,
  dryRun: boolean,
  previewToken: string | null = null,
) => call<GenerationReport>("generate_slots", { from, to, doctorId, dryRun, previewToken });

// Staff
export const listStaff = () => call<StaffMember[]>("list_staff");
export const addStaff = (staff: NewStaff) => call<StaffMember>("add_staff", { staff });
export const resetStaffPassword = (staffId: number, password: string) =>
  call<StaffMember>("reset_staff_password", { staffId, password });
export const deactivateStaff = (staffId: number) =>
  call<StaffMember>("deactivate_staff", { staffId });
export const changeStaffRole = (staffId: number, role: Role) =>
  call<StaffMember>("change_staff_role", { staffId, role });
export const unlockStaff = (staffId: number) => call<StaffMember>("unlock_staff", { staffId });

// Settings
export const adminClinicSettings = () => call<ClinicSettings>("admin_clinic_settings");
/** Saves the fields of `settings` that differ from `seen` (what the form was loaded with). */
export const saveClinicSettings = (seen: ClinicSettings, settings: ClinicSettings) =>
  call<ClinicSettings>("save_clinic_settings", { seen, settings });
export const listSettings = () => call<Setting[]>("list_settings");
export const saveSetting = (key: string, value: string) =>
  call<Setting>("save_setting", { key, value });
/** This PC's senders file, what it describes, the clinic's choice and the one in use. */
export const otpSender = () => call<SenderStatus>("otp_sender");
/** Chooses one of this PC's senders by name (`null`: the senders file's default). */
export const saveOtpSender = (sender: string | null) =>
  call<SenderStatus>("save_otp_sender", { sender });

// Audit, metrics, outbox, logs
export const listAudit = (filter: AuditFilter) => call<AuditEvent[]>("list_audit", { filter });
export const contentionMetrics = () => call<MetricsSnapshot>("contention_metrics");
export const listOutbox = () => call<OutboxMessage[]>("list_outbox");
export const deliverOutbox = () => call<DeliveryReport>("deliver_outbox");
export const logLocation = () => call<string>("log_location");

// Backups
export const backupNow = () => call<BackupResult>("backup_now");
export const checkBackup = (path: string) => call<BackupCheck>("check_backup", { path });
export const restoreBackup = (path: string, confirmed: boolean) =>
  call<RestoreReport>("restore_backup", { path, confirmed });

// Reports and exports
export const clinicReport = (from: string, to: string, period: ReportPeriod) =>
  call<Report>("clinic_report", { from, to, period });
export const exportAppointments = (from: string, to: string) =>
  call<SavedExport>("export_appointments", { from, to });
export const exportPatients = () => call<SavedExport>("export_patients");
export const daySheet = (date: string, doctorId: number | null) =>
  call<DaySheet>("day_sheet", { date, doctorId });
