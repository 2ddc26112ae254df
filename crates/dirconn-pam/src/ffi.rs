//! The few libpam calls dirconn makes, declared by hand: no PAM crate exposes `pam_start_confdir`
//! (libpam ≥ 1.4), which lets a service's files come from any folder instead of /etc/pam.d.

use std::os::raw::{c_char, c_int, c_uint, c_void};

/// An opaque PAM handle.
#[repr(C)]
pub struct PamHandle {
    _private: [u8; 0],
}

/// One message of a conversation.
#[repr(C)]
pub struct PamMessage {
    /// `PAM_PROMPT_ECHO_OFF`…
    pub msg_style: c_int,
    /// The text.
    pub msg: *const c_char,
}

/// One answer of a conversation (allocated with `malloc`; PAM frees it).
#[repr(C)]
pub struct PamResponse {
    /// The answer (`malloc`ed), or null.
    pub resp: *mut c_char,
    /// Unused, 0.
    pub resp_retcode: c_int,
}

/// The conversation function and its data.
#[repr(C)]
pub struct PamConv {
    /// Called by modules to prompt.
    pub conv: Option<unsafe extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int>,
    /// Passed back to `conv`.
    pub appdata_ptr: *mut c_void,
}

pub const PAM_SUCCESS: c_int = 0;
pub const PAM_OPEN_ERR: c_int = 1;
pub const PAM_SYMBOL_ERR: c_int = 2;
pub const PAM_SERVICE_ERR: c_int = 3;
pub const PAM_SYSTEM_ERR: c_int = 4;
pub const PAM_BUF_ERR: c_int = 5;
pub const PAM_PERM_DENIED: c_int = 6;
pub const PAM_AUTH_ERR: c_int = 7;
pub const PAM_CRED_INSUFFICIENT: c_int = 8;
pub const PAM_AUTHINFO_UNAVAIL: c_int = 9;
pub const PAM_USER_UNKNOWN: c_int = 10;
pub const PAM_MAXTRIES: c_int = 11;
pub const PAM_NEW_AUTHTOK_REQD: c_int = 12;
pub const PAM_ACCT_EXPIRED: c_int = 13;
pub const PAM_CRED_UNAVAIL: c_int = 15;
pub const PAM_CRED_EXPIRED: c_int = 16;
pub const PAM_CONV_ERR: c_int = 19;
pub const PAM_AUTHTOK_EXPIRED: c_int = 27;
pub const PAM_ABORT: c_int = 26;
pub const PAM_MODULE_UNKNOWN: c_int = 28;

pub const PAM_SILENT: c_int = 0x8000;
pub const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x0001;

pub const PAM_RHOST: c_int = 4;
pub const PAM_FAIL_DELAY: c_int = 10;

pub const PAM_PROMPT_ECHO_OFF: c_int = 1;
pub const PAM_PROMPT_ECHO_ON: c_int = 2;
pub const PAM_ERROR_MSG: c_int = 3;
pub const PAM_TEXT_INFO: c_int = 4;

/// The type of a `PAM_FAIL_DELAY` function.
pub type FailDelay = unsafe extern "C" fn(c_int, c_uint, *mut c_void);

// The runtime library itself (`libpam0g`, which every Debian system has), not the `libpam.so` link of the
// -dev package: a fresh machine builds without libpam0g-dev.
#[link(name = "libpam.so.0", kind = "dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    pub fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut PamHandle,
    ) -> c_int;
    pub fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub fn pam_acct_mgmt(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub fn pam_end(pamh: *mut PamHandle, status: c_int) -> c_int;
    pub fn pam_strerror(pamh: *mut PamHandle, errnum: c_int) -> *const c_char;
    pub fn pam_set_item(pamh: *mut PamHandle, item: c_int, value: *const c_void) -> c_int;
}
