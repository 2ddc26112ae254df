//! One PAM transaction on the calling (blocking) thread: `pam_start_confdir`, authenticate, account
//! management, `pam_end`, with a conversation that answers the password once and refuses any other
//! question. The password is copied into `malloc`ed memory for the module (PAM frees it) and our own
//! copy is zeroed on drop.

use std::{
    ffi::{CStr, CString},
    os::raw::{c_int, c_uint, c_void},
    ptr,
};

use zeroize::Zeroizing;

use crate::ffi::*;

/// What one transaction ended with.
#[derive(Debug)]
pub struct Outcome {
    /// The PAM code of the stage that ended it.
    pub code: c_int,
    /// `start`, `authenticate` or `account management`.
    pub stage: &'static str,
    /// `pam_strerror`'s words.
    pub text: String,
    /// What the modules said (PAM_ERROR_MSG, PAM_TEXT_INFO), at most a few.
    pub messages: Vec<String>,
    /// A prompt refused (a second password, an echoed question).
    pub refused_prompt: Option<String>,
}

/// The conversation's state, behind `appdata_ptr`.
struct Conversation {
    password: Zeroizing<Vec<u8>>,
    answered: bool,
    messages: Vec<String>,
    refused_prompt: Option<String>,
}

const MAX_MESSAGES: usize = 8;

/// Runs authenticate then account management for `user`.
/// `password` holds no NUL byte (checked by the caller).
pub fn run(service: &CStr, confdir: Option<&CStr>, user: &CStr, password: &[u8], rhost: Option<&CStr>) -> Outcome {
    let mut with_nul = Zeroizing::new(Vec::with_capacity(password.len() + 1));
    with_nul.extend_from_slice(password);
    with_nul.push(0);
    let mut conversation =
        Conversation { password: with_nul, answered: false, messages: Vec::new(), refused_prompt: None };
    let conv = PamConv { conv: Some(converse), appdata_ptr: (&mut conversation as *mut Conversation).cast() };
    let mut pamh: *mut PamHandle = ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `conv` and `conversation` outlive the handle (pam_end
    // below, before they go out of scope).
    let started = unsafe {
        pam_start_confdir(service.as_ptr(), user.as_ptr(), &conv, confdir.map_or(ptr::null(), CStr::as_ptr), &mut pamh)
    };
    if started != PAM_SUCCESS || pamh.is_null() {
        return Outcome {
            code: started,
            stage: "start",
            text: strerror(ptr::null_mut(), started),
            messages: Vec::new(),
            refused_prompt: None,
        };
    }
    // SAFETY: pamh is a live handle; the items are valid for the calls.
    let (code, stage) = unsafe {
        // No failure delay: a pool thread must not sleep seconds after each wrong password (throttling is
        // the service's job, not a blocked thread's).
        let delay: FailDelay = no_delay;
        pam_set_item(pamh, PAM_FAIL_DELAY, delay as *const c_void);
        if let Some(rhost) = rhost {
            pam_set_item(pamh, PAM_RHOST, rhost.as_ptr().cast());
        }
        let flags = PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK;
        let rc = pam_authenticate(pamh, flags);
        if rc == PAM_SUCCESS { (pam_acct_mgmt(pamh, flags), "account management") } else { (rc, "authenticate") }
    };
    let text = strerror(pamh, code);
    // SAFETY: the handle is ended once.
    unsafe { pam_end(pamh, code) };
    Outcome { code, stage, text, messages: conversation.messages, refused_prompt: conversation.refused_prompt }
}

fn strerror(pamh: *mut PamHandle, code: c_int) -> String {
    // SAFETY: pam_strerror returns a static string (or null) for any code.
    let text = unsafe { pam_strerror(pamh, code) };
    if text.is_null() {
        return format!("PAM code {code}");
    }
    // SAFETY: non-null, NUL-terminated.
    unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
}

unsafe extern "C" fn no_delay(_status: c_int, _usec: c_uint, _appdata: *mut c_void) {}

/// The conversation: the password once for a hidden prompt; messages kept; anything else refused.
unsafe extern "C" fn converse(
    count: c_int,
    messages: *mut *const PamMessage,
    responses: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if count <= 0 || count > 32 || messages.is_null() || responses.is_null() || appdata.is_null() {
        return PAM_CONV_ERR;
    }
    // SAFETY: appdata is the Conversation run() passed, alive for the transaction.
    let state = unsafe { &mut *appdata.cast::<Conversation>() };
    let count = count as usize;
    // SAFETY: calloc of `count` responses; freed below on failure, by PAM on success.
    let answers = unsafe { libc::calloc(count, std::mem::size_of::<PamResponse>()) }.cast::<PamResponse>();
    if answers.is_null() {
        return PAM_BUF_ERR;
    }
    for i in 0..count {
        // SAFETY: Linux-PAM passes an array of `count` message pointers.
        let message = unsafe { *messages.add(i) };
        if message.is_null() {
            return fail(answers, count);
        }
        // SAFETY: a valid message of the module.
        let (style, text) = unsafe {
            let m = &*message;
            let text =
                if m.msg.is_null() { String::new() } else { CStr::from_ptr(m.msg).to_string_lossy().into_owned() };
            (m.msg_style, text)
        };
        match style {
            PAM_PROMPT_ECHO_OFF if !state.answered => {
                state.answered = true;
                // SAFETY: malloc a copy with its NUL for the module, which frees it.
                let copy = unsafe { libc::malloc(state.password.len()) }.cast::<u8>();
                if copy.is_null() {
                    return fail(answers, count);
                }
                // SAFETY: both buffers hold password.len() bytes.
                unsafe {
                    ptr::copy_nonoverlapping(state.password.as_ptr(), copy, state.password.len());
                    (*answers.add(i)).resp = copy.cast();
                }
            }
            PAM_PROMPT_ECHO_OFF | PAM_PROMPT_ECHO_ON => {
                state.refused_prompt = Some(text);
                return fail(answers, count);
            }
            PAM_ERROR_MSG | PAM_TEXT_INFO => {
                if state.messages.len() < MAX_MESSAGES {
                    state.messages.push(text.chars().take(200).collect());
                }
            }
            _ => {
                state.refused_prompt = Some(format!("(a message of style {style})"));
                return fail(answers, count);
            }
        }
    }
    // SAFETY: responses is the module's out pointer.
    unsafe { *responses = answers };
    PAM_SUCCESS
}

/// Frees the answers given so far (zeroing the password copies) and refuses the conversation.
fn fail(answers: *mut PamResponse, count: usize) -> c_int {
    for i in 0..count {
        // SAFETY: answers holds `count` responses, each null or a malloc'ed NUL-terminated copy.
        unsafe {
            let resp = (*answers.add(i)).resp;
            if !resp.is_null() {
                let len = libc::strlen(resp);
                ptr::write_bytes(resp, 0, len);
                libc::free(resp.cast());
            }
        }
    }
    // SAFETY: allocated by calloc above.
    unsafe { libc::free(answers.cast()) };
    PAM_CONV_ERR
}

/// A C string of a Rust one, or `None` when it holds a NUL byte.
pub fn c_string(text: &str) -> Option<CString> {
    CString::new(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> Conversation {
        Conversation {
            password: Zeroizing::new(b"pw\0".to_vec()),
            answered: false,
            messages: Vec::new(),
            refused_prompt: None,
        }
    }

    fn ask(state: &mut Conversation, styles: &[c_int]) -> (c_int, Vec<Option<String>>) {
        let texts: Vec<CString> = styles.iter().map(|s| CString::new(format!("prompt {s}")).unwrap()).collect();
        let messages: Vec<PamMessage> =
            styles.iter().zip(&texts).map(|(s, t)| PamMessage { msg_style: *s, msg: t.as_ptr() }).collect();
        let mut pointers: Vec<*const PamMessage> = messages.iter().map(|m| m as *const PamMessage).collect();
        let mut out: *mut PamResponse = ptr::null_mut();
        let rc = unsafe {
            converse(styles.len() as c_int, pointers.as_mut_ptr(), &mut out, (state as *mut Conversation).cast())
        };
        let mut answers = Vec::new();
        if rc == PAM_SUCCESS {
            for i in 0..styles.len() {
                unsafe {
                    let r = (*out.add(i)).resp;
                    answers.push((!r.is_null()).then(|| CStr::from_ptr(r).to_string_lossy().into_owned()));
                    libc::free(r.cast());
                }
            }
            unsafe { libc::free(out.cast()) };
        }
        (rc, answers)
    }

    #[test]
    fn the_password_is_answered_once_and_other_prompts_refused() {
        let mut s = state();
        let (rc, answers) = ask(&mut s, &[PAM_TEXT_INFO, PAM_PROMPT_ECHO_OFF]);
        assert_eq!((rc, answers), (PAM_SUCCESS, vec![None, Some("pw".to_owned())]));
        assert_eq!(s.messages, vec!["prompt 4".to_owned()]);
        let (rc, _) = ask(&mut s, &[PAM_PROMPT_ECHO_OFF]);
        assert_eq!(rc, PAM_CONV_ERR, "a second password prompt");
        assert_eq!(s.refused_prompt.as_deref(), Some("prompt 1"));
        let mut s = state();
        assert_eq!(ask(&mut s, &[PAM_PROMPT_ECHO_ON]).0, PAM_CONV_ERR, "an echoed question (a one-time code)");
        let mut s = state();
        assert_eq!(ask(&mut s, &[PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_OFF]).0, PAM_CONV_ERR);
    }
}
