//! The messages of a password check, built and read with `kerberos_asn1`: AS-REQ and TGS-REQ out; AS-REP,
//! TGS-REP and KRB-ERROR back, with what a login reads from an error's e-data (ETYPE-INFO2 salts, Samba's
//! NTSTATUS). Everything read from the network is parsed behind [`guarded`]: a malformed answer is an error,
//! never a panic.

use chrono::{DateTime, Utc};
use kerberos_asn1::{
    ApReq, AsRep, AsReq, Asn1Object, Authenticator, Checksum, EncAsRepPart, EncKdcRepPart, EncTgsRepPart,
    EncTicketPart, EncryptedData, EtypeInfo2, EtypeInfo2Entry, KdcReqBody, KerbErrorData, KerberosTime, KrbError,
    MethodData, PaData, PaEncTsEnc, TgsRep, TgsReq, Ticket,
};

use crate::{
    Principal,
    crypto::{Key, OFFERED, guarded},
    principal::{NT_PRINCIPAL, NT_SRV_INST},
};

/// PA-TGS-REQ: the AP-REQ of a TGS-REQ.
const PA_TGS_REQ: i32 = 1;
/// PA-ENC-TIMESTAMP: encrypted pre-authentication.
const PA_ENC_TIMESTAMP: i32 = 2;
/// PA-PW-SALT: a salt, or Samba's 12-byte NTSTATUS in an error.
const PA_PW_SALT: i32 = 3;
/// PA-ETYPE-INFO2: etypes, salts and string-to-key parameters.
const PA_ETYPE_INFO2: i32 = 19;
/// KERB-ERROR-DATA type of an NTSTATUS (MS-KILE 2.2.1).
const KERB_ERR_TYPE_EXTENDED: i32 = 3;

/// Key usages (RFC 4120, section 7.5.1).
pub mod usage {
    /// PA-ENC-TIMESTAMP, with the client key.
    pub const AS_REQ_TIMESTAMP: i32 = 1;
    /// A ticket's enc-part, with the service key.
    pub const TICKET: i32 = 2;
    /// An AS-REP's enc-part, with the client key.
    pub const AS_REP_ENC_PART: i32 = 3;
    /// The checksum of a TGS-REQ body in its authenticator, with the TGT session key.
    pub const TGS_REQ_AUTH_CKSUM: i32 = 6;
    /// A TGS-REQ's authenticator, with the TGT session key.
    pub const TGS_REQ_AUTHENTICATOR: i32 = 7;
    /// A TGS-REP's enc-part, with the TGT session key.
    pub const TGS_REP_ENC_PART: i32 = 8;
}

/// What a KDC sent back.
#[derive(Debug)]
pub enum Reply {
    /// An AS-REP.
    As(Box<AsRep>),
    /// A TGS-REP.
    Tgs(Box<TgsRep>),
    /// A KRB-ERROR.
    Error(Box<KdcError>),
}

/// The parts of a KRB-ERROR a login reads.
#[derive(Debug, Clone)]
pub struct KdcError {
    /// The error code.
    pub code: i32,
    /// The KDC's time.
    pub stime: DateTime<Utc>,
    /// The KDC's text.
    pub e_text: Option<String>,
    /// The e-data.
    pub e_data: Option<Vec<u8>>,
    /// The realm of the answer.
    pub realm: String,
    /// The client realm, when named (a referral's).
    pub crealm: Option<String>,
}

impl KdcError {
    /// `24 (KDC_ERR_PREAUTH_FAILED): text`, and Samba's NTSTATUS when there is one.
    pub fn describe(&self) -> String {
        let name = crate::error::error_name(self.code);
        let mut out = match self.e_text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) => format!("{} ({name}): {text}", self.code),
            None => format!("{} ({name})", self.code),
        };
        if let Some(status) = self.ntstatus() {
            out.push_str(&format!("; NTSTATUS {status:#010X}"));
        }
        out
    }

    /// The ETYPE-INFO2 entries of the e-data (a METHOD-DATA), in the KDC's order.
    pub fn etype_info2(&self) -> Vec<EtypeInfo2Entry> {
        self.e_data.as_deref().map(etype_info2_of_method_data).unwrap_or_default()
    }

    /// Samba's NTSTATUS: in a KERB-ERROR-DATA of type 3, or a PA-PW-SALT of 12 bytes in a METHOD-DATA
    /// (status u32 little-endian, 0, flags).
    pub fn ntstatus(&self) -> Option<u32> {
        let data = self.e_data.as_deref()?;
        let status = |v: &[u8]| (v.len() == 12).then(|| u32::from_le_bytes([v[0], v[1], v[2], v[3]]));
        if let Some(Ok((_, err))) = guarded(|| KerbErrorData::parse(data))
            && err.data_type == KERB_ERR_TYPE_EXTENDED
            && let Some(found) = err.data_value.as_deref().and_then(status)
        {
            return Some(found);
        }
        let padata = guarded(|| MethodData::parse(data)).and_then(Result::ok)?.1;
        padata.iter().filter(|p| p.padata_type == PA_PW_SALT).find_map(|p| status(&p.padata_value))
    }
}

/// The ETYPE-INFO2 entries of a METHOD-DATA.
pub fn etype_info2_of_method_data(data: &[u8]) -> Vec<EtypeInfo2Entry> {
    match guarded(|| MethodData::parse(data)) {
        Some(Ok((_, padata))) => etype_info2_of(&padata),
        _ => Vec::new(),
    }
}

/// The ETYPE-INFO2 entries among PA-DATA.
pub fn etype_info2_of(padata: &[PaData]) -> Vec<EtypeInfo2Entry> {
    padata
        .iter()
        .filter(|p| p.padata_type == PA_ETYPE_INFO2)
        .filter_map(|p| guarded(|| EtypeInfo2::parse(&p.padata_value)).and_then(Result::ok))
        .flat_map(|(_, entries)| entries)
        .collect()
}

/// Reads a KDC's answer.
pub fn parse_reply(bytes: &[u8]) -> Result<Reply, String> {
    let parsed = guarded(|| match bytes.first() {
        Some(0x6b) => AsRep::parse(bytes).map(|(_, r)| Reply::As(Box::new(r))).map_err(|e| format!("AS-REP: {e}")),
        Some(0x6d) => TgsRep::parse(bytes).map(|(_, r)| Reply::Tgs(Box::new(r))).map_err(|e| format!("TGS-REP: {e}")),
        Some(0x7e) => KrbError::parse(bytes)
            .map(|(_, e)| {
                Reply::Error(Box::new(KdcError {
                    code: e.error_code,
                    stime: e.stime.time.time,
                    e_text: e.e_text,
                    e_data: e.e_data,
                    realm: e.realm,
                    crealm: e.crealm,
                }))
            })
            .map_err(|e| format!("KRB-ERROR: {e}")),
        Some(tag) => Err(format!("it is not a Kerberos reply (first byte {tag:#04x})")),
        None => Err("it is empty".into()),
    });
    parsed.unwrap_or_else(|| Err("it is malformed (the decoder gave up)".into()))
}

/// Reads a decrypted AS-REP or TGS-REP enc-part, under either application tag (MIT writes an AS-REP's
/// with the TGS tag, 26).
pub fn parse_enc_rep_part(bytes: &[u8]) -> Result<EncKdcRepPart, String> {
    let parsed = guarded(|| match bytes.first() {
        Some(0x79) => EncAsRepPart::parse(bytes).map(|(_, p)| EncKdcRepPart::from(p)),
        Some(0x7a) => EncTgsRepPart::parse(bytes).map(|(_, p)| EncKdcRepPart::from(p)),
        _ => Err(red_asn1::Error::IncorrectValue("not an EncKDCRepPart".into())),
    });
    match parsed {
        Some(Ok(part)) => Ok(part),
        Some(Err(e)) => Err(format!("its encrypted part cannot be read ({e})")),
        None => Err("its encrypted part is malformed".into()),
    }
}

/// Reads a decrypted ticket enc-part.
pub fn parse_enc_ticket_part(bytes: &[u8]) -> Result<EncTicketPart, String> {
    match guarded(|| EncTicketPart::parse(bytes)) {
        Some(Ok((_, part))) => Ok(part),
        Some(Err(e)) => Err(format!("the ticket's encrypted part cannot be read ({e})")),
        None => Err("the ticket's encrypted part is malformed".into()),
    }
}

/// A nonce: random, kept to 31 bits (MIT and Heimdal encode nonces as signed).
pub fn nonce() -> u32 {
    rand::random::<u32>() & 0x7fff_ffff
}

/// A time as Kerberos carries it (`KerberosTime` encodes whole seconds).
fn kerberos_time(t: DateTime<Utc>) -> KerberosTime {
    KerberosTime::from(t)
}

fn body(client: Option<&Principal>, service: &Principal, nonce: u32, now: DateTime<Utc>) -> KdcReqBody {
    KdcReqBody {
        kdc_options: 0.into(),
        cname: client.map(|c| c.to_asn1(NT_PRINCIPAL)),
        realm: service.realm.clone(),
        sname: Some(service.to_asn1(NT_SRV_INST)),
        till: kerberos_time(now + chrono::Duration::hours(10)),
        nonce,
        etypes: OFFERED.to_vec(),
        ..Default::default()
    }
}

/// An AS-REQ for `client` to `service`, with encrypted-timestamp pre-authentication when a key is given.
pub fn as_req(
    client: &Principal,
    service: &Principal,
    nonce: u32,
    preauth: Option<&Key>,
    now: DateTime<Utc>,
) -> Vec<u8> {
    let padata = preauth.map(|key| {
        let stamp = PaEncTsEnc::new(kerberos_time(now), Some(now.timestamp_subsec_micros() as i32));
        let sealed = EncryptedData::new(key.etype(), None, key.encrypt(usage::AS_REQ_TIMESTAMP, &stamp.build()));
        vec![PaData::new(PA_ENC_TIMESTAMP, sealed.build())]
    });
    AsReq { padata, req_body: body(Some(client), service, nonce, now), ..Default::default() }.build()
}

/// A TGS-REQ for `service` with the TGT: its authenticator carries a checksum of the request body
/// (usage 6; MIT refuses a TGS-REQ without it).
pub fn tgs_req(
    client: &Principal,
    tgt: &Ticket,
    session: &Key,
    service: &Principal,
    nonce: u32,
    now: DateTime<Utc>,
) -> Vec<u8> {
    let body = body(None, service, nonce, now);
    let (cksumtype, checksum) = session.checksum(usage::TGS_REQ_AUTH_CKSUM, &body.build());
    let auth = Authenticator {
        crealm: client.realm.clone(),
        cname: client.to_asn1(NT_PRINCIPAL),
        cksum: Some(Checksum { cksumtype, checksum }),
        cusec: now.timestamp_subsec_micros() as i32,
        ctime: kerberos_time(now),
        ..Default::default()
    };
    let sealed = session.encrypt(usage::TGS_REQ_AUTHENTICATOR, &auth.build());
    let ap = ApReq {
        ticket: tgt.clone(),
        authenticator: EncryptedData::new(session.etype(), None, sealed),
        ..Default::default()
    };
    TgsReq { padata: Some(vec![PaData::new(PA_TGS_REQ, ap.build())]), req_body: body, ..Default::default() }.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_answers_are_errors_not_panics() {
        for bytes in [&[][..], &[0x6b], &[0x6b, 0x83, 0xff, 0xff, 0xff], &[0x7e, 0x05, 0x30, 0x03, 0x02, 0x01], &[0x30]]
        {
            assert!(parse_reply(bytes).is_err(), "{bytes:?}");
            assert!(parse_enc_rep_part(bytes).is_err());
            assert!(parse_enc_ticket_part(bytes).is_err());
        }
    }

    #[test]
    fn an_error_round_trips_with_its_ntstatus() {
        let mut err =
            KrbError { pvno: 5, msg_type: 30, error_code: 18, realm: "EXAMPLE.TEST".into(), ..Default::default() };
        let status = [0x34, 0x02, 0x00, 0xc0, 0, 0, 0, 0, 1, 0, 0, 0];
        err.e_data = Some(vec![PaData::new(PA_PW_SALT, status.to_vec())].build());
        let Reply::Error(parsed) = parse_reply(&err.build()).unwrap() else { panic!("not an error") };
        assert_eq!((parsed.code, parsed.ntstatus()), (18, Some(0xC000_0234)));
        let data = KerbErrorData { data_type: 3, data_value: Some(status.to_vec()) };
        err.e_data = Some(data.build());
        let Reply::Error(parsed) = parse_reply(&err.build()).unwrap() else { panic!("not an error") };
        assert_eq!(parsed.ntstatus(), Some(0xC000_0234));
        assert_eq!(parsed.describe(), "18 (KDC_ERR_CLIENT_REVOKED); NTSTATUS 0xC0000234");
    }

    #[test]
    fn nonces_fit_31_bits() {
        assert!((0..1000).all(|_| nonce() < 0x8000_0000));
    }
}
