//! A small HTTP/1.1 client for tests of `dirconn serve`: one keep-alive connection per [`Http`], bodies
//! sent as given (so tests can send what no well-behaved client would), `Content-Length` and chunked
//! answers read in full.

use std::{
    io::{self, BufRead as _, BufReader, Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// One answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("HTTP {}: the body is not JSON ({e}): {}", self.status, self.text()))
    }
}

/// A client of one server, with an optional bearer token, over one keep-alive connection.
#[derive(Debug)]
pub struct Http {
    addr: SocketAddr,
    token: Option<String>,
    conn: Option<BufReader<TcpStream>>,
    timeout: Duration,
}

impl Http {
    /// A client of `addr` without a token.
    pub fn new(addr: SocketAddr) -> Http {
        Http { addr, token: None, conn: None, timeout: Duration::from_secs(30) }
    }

    /// The same client sending `Authorization: Bearer <token>`.
    pub fn with_token(mut self, token: &str) -> Http {
        self.token = Some(token.to_owned());
        self
    }

    /// How long a request may take before it fails (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Http {
        self.timeout = timeout;
        self
    }

    /// Sends one request and reads its answer. A request on a reused connection that the server had
    /// closed meanwhile (no byte of answer) is sent once more on a new connection.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        let reused = self.conn.is_some();
        match self.exchange(&bytes, method == "HEAD") {
            Err(Failure::BeforeAnswer(_)) if reused => {
                self.conn = None;
                self.exchange(&bytes, method == "HEAD").map_err(Failure::into_io)
            }
            other => other.map_err(Failure::into_io),
        }
    }

    fn exchange(&mut self, request: &[u8], head: bool) -> Result<Response, Failure> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, self.timeout).map_err(Failure::BeforeAnswer)?;
            stream.set_nodelay(true).map_err(Failure::BeforeAnswer)?;
            stream.set_read_timeout(Some(self.timeout)).map_err(Failure::BeforeAnswer)?;
            stream.set_write_timeout(Some(self.timeout)).map_err(Failure::BeforeAnswer)?;
            self.conn = Some(BufReader::new(stream));
        }
        let conn = self.conn.as_mut().expect("connected above");
        let result = (|| {
            conn.get_mut().write_all(request).map_err(Failure::BeforeAnswer)?;
            read_response(conn, head)
        })();
        match &result {
            Ok(r) if !r.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) => {}
            _ => self.conn = None,
        }
        result
    }

    /// Sends a request; panics with context on a transport failure.
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Response {
        self.send(method, path, headers, body).unwrap_or_else(|e| panic!("{method} {path} to {}: {e}", self.addr))
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, &[], None)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&mut self, path: &str, body: &serde_json::Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("JSON");
        self.post_raw(path, "application/json", &bytes)
    }

    /// `POST path` with these bytes as the body.
    pub fn post_raw(&mut self, path: &str, content_type: &str, body: &[u8]) -> Response {
        self.request("POST", path, &[("Content-Type", content_type)], Some(body))
    }

    /// `POST /v1/auth` with a login and a password.
    pub fn login(&mut self, login: &str, password: &str) -> Response {
        self.post_json("/v1/auth", &serde_json::json!({ "login": login, "password": password }))
    }
}

enum Failure {
    /// Nothing of an answer was read: the request may be sent again.
    BeforeAnswer(io::Error),
    /// The answer was cut or malformed.
    During(io::Error),
}

impl Failure {
    fn into_io(self) -> io::Error {
        match self {
            Failure::BeforeAnswer(e) | Failure::During(e) => e,
        }
    }
}

fn bad(text: String) -> Failure {
    Failure::During(io::Error::new(io::ErrorKind::InvalidData, text))
}

fn read_line(conn: &mut BufReader<TcpStream>) -> Result<String, Failure> {
    let mut line = String::new();
    conn.read_line(&mut line).map_err(Failure::During)?;
    if !line.ends_with('\n') {
        return Err(Failure::During(io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed mid-answer")));
    }
    Ok(line.trim_end().to_owned())
}

fn read_response(conn: &mut BufReader<TcpStream>, head: bool) -> Result<Response, Failure> {
    let mut status_line = String::new();
    match conn.read_line(&mut status_line) {
        Ok(0) => {
            return Err(Failure::BeforeAnswer(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before an answer")));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Err(Failure::BeforeAnswer(e)),
        Err(e) => return Err(Failure::During(e)),
    }
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("not an HTTP status line: {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(conn)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| bad(format!("not a header: {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if head || status == 204 || status == 304 || (100..200).contains(&status) {
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let size_line = read_line(conn)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                while !read_line(conn)?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            conn.read_exact(&mut body[start..]).map_err(Failure::During)?;
            read_line(conn)?;
        }
    } else if let Some(length) = find("content-length") {
        let length: usize = length.parse().map_err(|_| bad(format!("bad Content-Length {length:?}")))?;
        body.resize(length, 0);
        conn.read_exact(&mut body).map_err(Failure::During)?;
    } else {
        conn.read_to_end(&mut body).map_err(Failure::During)?;
        headers.push(("connection".into(), "close".into()));
    }
    Ok(Response { status, headers, body })
}
