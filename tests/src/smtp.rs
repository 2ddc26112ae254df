//! A minimal SMTP client for tests: greeting, `EHLO`, `AUTH PLAIN`, `AUTH LOGIN`, any command, `QUIT`;
//! every answer as its reply code and text.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// One SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReply {
    /// The three-digit code (`250`, `235`, `535`...).
    pub code: u16,
    /// The text of every line after the code and separator, joined with `\n`.
    pub text: String,
}

impl SmtpReply {
    /// The reply's lines (for EHLO: the host name, then one extension per line).
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.lines()
    }

    /// For an EHLO reply: whether it advertises `AUTH` with `mechanism` (e.g. `"PLAIN"`).
    pub fn advertises_auth(&self, mechanism: &str) -> bool {
        self.lines().any(|l| {
            let mut words = l.split_whitespace();
            words.next().is_some_and(|w| w.eq_ignore_ascii_case("AUTH"))
                && words.any(|m| m.eq_ignore_ascii_case(mechanism))
        })
    }
}

/// A SASL mechanism [`SmtpClient::auth`] can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMechanism {
    /// `AUTH PLAIN <base64(\0user\0pass)>` (initial response).
    Plain,
    /// `AUTH LOGIN`, then the user and the password, each answering a 334 challenge.
    Login,
}

/// One SMTP connection on `127.0.0.1`.
#[derive(Debug)]
pub struct SmtpClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// The greeting (`220 ...`).
    pub greeting: SmtpReply,
}

impl SmtpClient {
    /// Connects and reads the greeting.
    pub fn connect(port: u16) -> io::Result<SmtpClient> {
        let stream = TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), IO_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let greeting = read_reply(&mut reader)?;
        Ok(SmtpClient { reader, writer, greeting })
    }

    /// Sends one line (CRLF added) and reads the reply.
    pub fn command(&mut self, line: &str) -> io::Result<SmtpReply> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())?;
        read_reply(&mut self.reader)
    }

    /// `EHLO name`.
    pub fn ehlo(&mut self, name: &str) -> io::Result<SmtpReply> {
        self.command(&format!("EHLO {name}"))
    }

    /// Authenticates with `mechanism`; the final reply (`235` success, `535` refused, `454` temporary...),
    /// or the first non-334 reply of the exchange.
    pub fn auth(&mut self, mechanism: SmtpMechanism, user: &str, password: &str) -> io::Result<SmtpReply> {
        match mechanism {
            SmtpMechanism::Plain => {
                let mut raw = vec![0u8];
                raw.extend_from_slice(user.as_bytes());
                raw.push(0);
                raw.extend_from_slice(password.as_bytes());
                self.command(&format!("AUTH PLAIN {}", B64.encode(raw)))
            }
            SmtpMechanism::Login => {
                let first = self.command("AUTH LOGIN")?;
                if first.code != 334 {
                    return Ok(first);
                }
                let second = self.command(&B64.encode(user))?;
                if second.code != 334 {
                    return Ok(second);
                }
                self.command(&B64.encode(password))
            }
        }
    }

    /// `QUIT` (its reply is not waited for long: errors are ignored).
    pub fn quit(mut self) {
        let _ = self.command("QUIT");
    }
}

/// Reads one (possibly multi-line) reply.
fn read_reply(reader: &mut impl BufRead) -> io::Result<SmtpReply> {
    let mut code = None;
    let mut text = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the SMTP server closed the connection"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("not an SMTP reply line: {line:?}"));
        let this: u16 = line.get(..3).and_then(|c| c.parse().ok()).ok_or_else(bad)?;
        if code.is_some_and(|c| c != this) {
            return Err(bad());
        }
        code = Some(this);
        text.push(line.get(4..).unwrap_or_default().to_owned());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(SmtpReply { code: this, text: text.join("\n") });
        }
    }
}

/// Connects to `127.0.0.1:port`, says `EHLO test.invalid`, authenticates, quits: the AUTH reply. An error if
/// the session breaks before it (or the EHLO is not a 250).
pub fn smtp_auth(port: u16, mechanism: SmtpMechanism, user: &str, password: &str) -> io::Result<SmtpReply> {
    let mut client = SmtpClient::connect(port)?;
    let ehlo = client.ehlo("test.invalid")?;
    if ehlo.code != 250 {
        return Err(io::Error::other(format!("EHLO refused: {ehlo:?}")));
    }
    let reply = client.auth(mechanism, user, password)?;
    client.quit();
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_replies_are_joined() {
        let mut input: &[u8] = b"250-localhost\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n";
        let reply = read_reply(&mut input).expect("a reply");
        assert_eq!(reply.code, 250);
        assert_eq!(reply.text, "localhost\nPIPELINING\nAUTH PLAIN LOGIN");
        assert!(reply.advertises_auth("login") && !reply.advertises_auth("CRAM-MD5"));
        let mut mixed: &[u8] = b"250-a\r\n251 b\r\n";
        assert!(read_reply(&mut mixed).is_err());
    }
}
