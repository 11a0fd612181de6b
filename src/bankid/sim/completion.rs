//! Synthesises v6-shaped `completionData`. The signature and OCSP response
//! are NOT real: the XML is unsigned and the OCSP bytes are a placeholder.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use super::order::Order;
use super::persons::name_for;
use crate::bankid::collect::{CompletedDevice, CompletedUser, CompletionData, StepUp};
use crate::bankid::secret::PersonalNumber;

/// IP reported for phone orders, which carry no `endUserIp` (TEST-NET-1).
const PHONE_DEVICE_IP: &str = "192.0.2.10";

pub(crate) fn completion_data(
    order: &Order,
    person: &PersonalNumber,
    risk: &str,
) -> CompletionData {
    let (given, surname) = name_for(person.as_str());
    let uhi = {
        let digest = Sha256::digest(format!("fraudhub-sim-uhi:{}", person.as_str()));
        B64.encode(&digest[..18])
    };
    let issue = chrono::Utc::now().date_naive() - chrono::Days::new(400);
    CompletionData {
        user: CompletedUser {
            personal_number: person.clone(),
            name: format!("{given} {surname}"),
            given_name: given,
            surname,
        },
        device: CompletedDevice {
            ip_address: order
                .end_user_ip
                .clone()
                .unwrap_or_else(|| PHONE_DEVICE_IP.into()),
            uhi: Some(uhi),
        },
        bank_id_issue_date: issue.format("%Y-%m-%d").to_string(),
        step_up: (order.requirement.mrtd == Some(true)).then_some(StepUp { mrtd: true }),
        signature: B64.encode(signature_xml(order, person)),
        ocsp_response: B64.encode(format!("SIMULATED-OCSP-RESPONSE:{}", order.order_ref)),
        risk: order.return_risk.then(|| risk.to_owned()),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Shaped like BankID's `bankIdSignedData` XML-DSig envelope, but with a
/// marker instead of a signature value so nobody mistakes it for real.
fn signature_xml(order: &Order, person: &PersonalNumber) -> String {
    let visible = order.user_visible_data.as_deref().unwrap_or("");
    let non_visible = order.user_non_visible_data.as_deref().unwrap_or("");
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>"#,
            r#"<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">"#,
            r#"<SignedInfo><SignatureMethod Algorithm="simulated"/></SignedInfo>"#,
            r#"<SignatureValue>SIMULATED-NOT-A-REAL-SIGNATURE</SignatureValue>"#,
            r#"<Object><bankIdSignedData xmlns="http://www.bankid.com/signature/v1.0.0/types" Id="bidSignedData">"#,
            r#"<usrVisibleData charset="UTF-8" visible="wysiwys">{visible}</usrVisibleData>"#,
            r#"<usrNonVisibleData>{non_visible}</usrNonVisibleData>"#,
            r#"<srvInfo><name>fraudhub-bankid-simulator</name><nonce>{order_ref}</nonce></srvInfo>"#,
            r#"<clientInfo><funcId>{func}</funcId><personalNumber>{pn}</personalNumber></clientInfo>"#,
            r#"</bankIdSignedData></Object></Signature>"#
        ),
        visible = xml_escape(visible),
        non_visible = xml_escape(non_visible),
        order_ref = xml_escape(&order.order_ref),
        func = order.kind.as_str(),
        pn = xml_escape(person.as_str()),
    )
}
