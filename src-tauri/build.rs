//! Deny by default: every command the UI may call is listed here, which makes
//! tauri-build generate an `allow-<command>` permission for it and reject any command
//! that no capability grants. Grants live in `capabilities/` (main window only).

/// The app's commands, in the order they are registered in `lib.rs`.
const COMMANDS: &[&str] = &[
    "app_info",
    // session.rs
    "startup",
    "first_run",
    "open_demo_clinic",
    "login",
    "logout",
    "touch",
    "change_own_password",
    "clinic_settings",
    "watch_changes",
    // desk.rs
    "day_view",
    "clinic_today",
    "jump_date",
    "pending_appointments",
    "list_doctors",
    "add_doctor",
    "deactivate_doctor",
    "add_single_slot",
    "set_slot_blocked",
    "day_appointments",
    // appointments.rs
    "book",
    "book_series",
    "possible_duplicates",
    "register_patient",
    "get_appointment",
    "change_status",
    "undo_change",
    "reschedule",
    "cancel_series_rest",
    "overbook",
    // patients.rs
    "search_patients",
    "next_appointments",
    "get_patient",
    "update_patient",
    "set_reminders_opt_out",
    "patient_appointments",
    "patient_attendance",
    "request_phone_passcode",
    "verify_phone_passcode",
    // waitlist.rs
    "waitlist_list",
    "waitlist_add",
    "waitlist_remove",
    "waitlist_matches",
    "book_from_waitlist",
    "doctor_day_slots",
    // schedule.rs
    "schedule_doctors",
    "list_templates",
    "add_template",
    "remove_template",
    "list_time_off",
    "add_time_off",
    "remove_time_off",
    "generate_slots",
    // admin.rs
    "list_staff",
    "add_staff",
    "reset_staff_password",
    "deactivate_staff",
    "change_staff_role",
    "unlock_staff",
    "admin_clinic_settings",
    "save_clinic_settings",
    "list_settings",
    "save_setting",
    "otp_sender",
    "save_otp_sender",
    "list_outbox",
    "deliver_outbox",
    "list_audit",
    "contention_metrics",
    "log_location",
    // operations.rs
    "list_backups",
    "backup_now",
    "watch_jobs",
    "clinic_report",
    "export_appointments",
    "export_patients",
    "day_sheet",
    "check_backup",
    "restore_backup",
    // payments.rs
    "payment_settings",
    "list_appointment_types",
    "add_appointment_type",
    "update_appointment_type",
    "set_doctor_price",
    "pay_and_book",
    "take_payment",
    "refund_payment",
    "appointment_account",
    "patient_balance",
    "closing_preview",
    "receipt",
    "till",
    "close_till",
    "cash_up_report",
    "export_cash_ups",
    // keys.rs
    "unlock_database",
    "encryption_status",
    "show_recovery_key",
    "convert_database",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
