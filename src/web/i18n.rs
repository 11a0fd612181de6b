//! The pages' two languages. Every text is a field of [`Texts`], so a page cannot show a
//! text that exists in only one language: the compiler refuses a missing field.

use crate::audit::entry::{Action, Outcome, Purpose};
use crate::bankid::HintCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Sv,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "sv" => Some(Lang::Sv),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language, offered by the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Sv => Lang::En,
            Lang::En => Lang::Sv,
        }
    }

    /// The chosen language (cookie) first, then the browser's `Accept-Language` by
    /// quality, then Swedish.
    pub fn negotiate(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = cookie.and_then(Lang::parse) {
            return lang;
        }
        let mut best: Option<(f32, Lang)> = None;
        for part in accept_language.unwrap_or("").split(',') {
            let mut fields = part.split(';');
            let tag = fields.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = fields
                .find_map(|f| f.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(lang) = Lang::parse(primary)
                && q > 0.0
                && best.is_none_or(|(b, _)| q > b)
            {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Sv, |(_, l)| l)
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Sv => &SV,
            Lang::En => &EN,
        }
    }
}

/// Every text the consumer pages show.
#[derive(Debug)]
pub struct Texts {
    pub lang: Lang,
    pub service: &'static str,
    pub switch_to: &'static str,
    pub skip_to_content: &'static str,
    pub start_title: &'static str,
    pub start_lead: &'static str,
    pub start_how: &'static str,
    pub start_how_text: &'static str,
    pub start_free: &'static str,
    pub start_privacy: &'static str,
    pub login: &'static str,
    pub login_title: &'static str,
    pub login_text: &'static str,
    pub login_button: &'static str,
    pub bankid_title_login: &'static str,
    pub bankid_title_sign: &'static str,
    pub qr_alt: &'static str,
    pub qr_help: &'static str,
    pub open_on_device: &'static str,
    pub refresh: &'static str,
    pub cancel: &'static str,
    pub my_title: &'static str,
    pub logged_in_as: &'static str,
    pub logout: &'static str,
    pub flags_active: &'static str,
    pub flags_past: &'static str,
    pub no_flags: &'static str,
    pub kind: &'static str,
    pub since: &'static str,
    pub until: &'static str,
    pub placed_by: &'static str,
    pub placed_by_you: &'static str,
    pub police_report: &'static str,
    pub status: &'static str,
    pub status_active: &'static str,
    pub status_lifted: &'static str,
    pub status_expired: &'static str,
    pub kind_consumer: &'static str,
    pub kind_identity_theft: &'static str,
    pub kind_police_report: &'static str,
    pub contact_member: &'static str,
    pub place_title: &'static str,
    pub place_text: &'static str,
    pub duration: &'static str,
    pub days_30: &'static str,
    pub days_365: &'static str,
    pub days_730: &'static str,
    pub days_1826: &'static str,
    pub police_report_label: &'static str,
    pub police_report_help: &'static str,
    pub place_button: &'static str,
    pub renew_button: &'static str,
    pub lift_button: &'static str,
    pub actions: &'static str,
    pub lookups_title: &'static str,
    pub lookups_text: &'static str,
    pub lookups_link: &'static str,
    pub no_lookups: &'static str,
    pub when: &'static str,
    pub who: &'static str,
    pub what: &'static str,
    pub why: &'static str,
    pub told: &'static str,
    pub older: &'static str,
    pub newest: &'static str,
    pub export_link: &'static str,
    pub export_text: &'static str,
    pub back_to_my_page: &'static str,
    pub done_title: &'static str,
    pub done_placed: &'static str,
    pub done_renewed: &'static str,
    pub done_lifted: &'static str,
    pub error_title: &'static str,
    pub try_again: &'static str,
    pub logged_out_title: &'static str,
    pub logged_out_text: &'static str,
    pub too_many_title: &'static str,
    pub too_many_text: &'static str,
    pub not_found_title: &'static str,
    pub not_found_text: &'static str,
    pub session_over: &'static str,
    pub forbidden_text: &'static str,
    pub unavailable_text: &'static str,
    pub signed_by_other: &'static str,
    pub not_changeable: &'static str,
    pub invalid_police_report: &'static str,
    pub invalid_duration: &'static str,
    pub you: &'static str,
    pub the_hub: &'static str,
    pub sign_place: &'static str,
    pub sign_renew: &'static str,
    pub sign_lift: &'static str,
    pub sign_until: &'static str,
    pub sign_report: &'static str,
    pub login_visible: &'static str,
    pub agent_title: &'static str,
    pub agent_login_text: &'static str,
    pub agent_refused: &'static str,
    pub agent_form_title: &'static str,
    pub agent_pn_label: &'static str,
    pub agent_pn_help: &'static str,
    pub agent_initiator_legend: &'static str,
    pub agent_initiator_user: &'static str,
    pub agent_initiator_rp: &'static str,
    pub agent_phone_label: &'static str,
    pub agent_start: &'static str,
    pub agent_next_call: &'static str,
    pub agent_say: &'static str,
    pub agent_verified: &'static str,
    pub agent_not_verified: &'static str,
    pub agent_pending: &'static str,
    pub agent_declined: &'static str,
    pub agent_cancelled: &'static str,
    pub agent_expired: &'static str,
    pub agent_started_elsewhere: &'static str,
    pub agent_unavailable: &'static str,
    pub agent_bankid_refused: &'static str,
    pub agent_name: &'static str,
    pub agent_warning_flagged: &'static str,
    pub agent_warning_reported_pn: &'static str,
    pub agent_warning_reported_phone: &'static str,
    pub agent_cancel: &'static str,
    pub agent_invalid_pn: &'static str,
    pub agent_invalid_phone: &'static str,
}

pub static SV: Texts = Texts {
    lang: Lang::Sv,
    service: "Bedrägerispärr",
    switch_to: "English",
    skip_to_content: "Hoppa till innehållet",
    start_title: "Spärra ditt personnummer mot bedrägeri",
    start_lead: "Har du tappat din id-handling, blivit lurad att använda ditt BankID eller fått dina uppgifter röjda? Med en enda åtgärd spärrar du ditt personnummer hos alla anslutna banker och betaltjänster.",
    start_how: "Så fungerar en spärr",
    start_how_text: "När någon försöker öppna ett konto, ta ett lån eller göra en betalning i ditt namn får banken svaret ”spärrat – kontrollera identiteten”. Banken ska då kontrollera att det verkligen är du. Du kan när som helst se vilka som har frågat om dig, förlänga spärren eller ta bort den.",
    start_free: "Tjänsten är kostnadsfri.",
    start_privacy: "Ditt personnummer sparas aldrig i klartext, bara som en nyckelad kontrollsumma.",
    login: "Logga in",
    login_title: "Logga in med BankID",
    login_text: "Du loggar in med BankID på den här enheten eller genom att skanna en QR-kod med BankID-appen på din mobil.",
    login_button: "Logga in med BankID",
    bankid_title_login: "Legitimera dig med BankID",
    bankid_title_sign: "Skriv under med BankID",
    qr_alt: "QR-kod att skanna med BankID-appen. Kan du inte skanna den, välj ”Öppna BankID på den här enheten”.",
    qr_help: "Starta BankID-appen på din mobil, tryck på QR-symbolen och rikta kameran mot QR-koden.",
    open_on_device: "Öppna BankID på den här enheten",
    refresh: "Uppdatera",
    cancel: "Avbryt",
    my_title: "Mina sidor",
    logged_in_as: "Inloggad som",
    logout: "Logga ut",
    flags_active: "Aktiva spärrar",
    flags_past: "Tidigare spärrar",
    no_flags: "Inga spärrar.",
    kind: "Typ",
    since: "Sedan",
    until: "Gäller till",
    placed_by: "Lagd av",
    placed_by_you: "Du själv",
    police_report: "Polisanmälan",
    status: "Status",
    status_active: "Aktiv",
    status_lifted: "Borttagen",
    status_expired: "Utgången",
    kind_consumer: "Egen spärr",
    kind_identity_theft: "Id-kapning",
    kind_police_report: "Polisanmäld",
    contact_member: "Kontakta den som lade spärren för att ta bort den:",
    place_title: "Lägg en spärr",
    place_text: "Spärren gäller hos alla anslutna banker och betaltjänster från och med att du skriver under.",
    duration: "Giltighetstid",
    days_30: "30 dagar",
    days_365: "1 år",
    days_730: "2 år",
    days_1826: "5 år (kräver polisanmälan)",
    police_report_label: "Diarienummer för polisanmälan (valfritt)",
    police_report_help: "Till exempel 5000-K123456-24. Med en polisanmälan kan spärren gälla i upp till 5 år.",
    place_button: "Spärra mitt personnummer",
    renew_button: "Förläng",
    lift_button: "Ta bort spärren",
    actions: "Åtgärder",
    lookups_title: "Vem har frågat om mig",
    lookups_text: "Varje gång en bank eller betaltjänst kontrollerar ditt personnummer syns det här, med namn, tid, syfte och vilket svar de fick.",
    lookups_link: "Se vem som har frågat om mig",
    no_lookups: "Ingen har frågat om dig.",
    when: "När",
    who: "Vem",
    what: "Vad",
    why: "Syfte",
    told: "Svar",
    older: "Äldre",
    newest: "Senaste",
    export_link: "Ladda ner allt om mig (JSON)",
    export_text: "Filen innehåller dina spärrar och alla förfrågningar, med bevis mot den signerade granskningsloggen så att vem som helst kan kontrollera att listan inte har ändrats.",
    back_to_my_page: "Tillbaka till Mina sidor",
    done_title: "Klart",
    done_placed: "Ditt personnummer är spärrat. Spärren gäller till",
    done_renewed: "Spärren är förlängd. Den gäller nu till",
    done_lifted: "Spärren är borttagen.",
    error_title: "Något gick fel",
    try_again: "Försök igen",
    logged_out_title: "Du är utloggad",
    logged_out_text: "Din session är avslutad. Stäng webbläsaren om du använder en delad dator.",
    too_many_title: "För många försök",
    too_many_text: "Vänta en stund och försök igen.",
    not_found_title: "Sidan finns inte",
    not_found_text: "Kontrollera adressen eller gå till startsidan.",
    session_over: "Du har varit inaktiv för länge eller är inte inloggad. Logga in igen.",
    forbidden_text: "Begäran kunde inte verifieras. Ladda om sidan och försök igen.",
    unavailable_text: "Tjänsten är inte tillgänglig just nu. Försök igen om en stund.",
    signed_by_other: "Underskriften gjordes med ett annat BankID än det du loggade in med. Ingenting har ändrats.",
    not_changeable: "Den spärren kan inte ändras här.",
    invalid_police_report: "Diarienumret för polisanmälan ska se ut som 5000-K123456-24: fyra siffror, K och ett löpnummer, sedan årtalets två siffror.",
    invalid_duration: "Välj en av giltighetstiderna. 5 år kräver ett diarienummer för en polisanmälan, och en förlängning måste gälla längre än spärren redan gör.",
    you: "Du",
    the_hub: "Tjänsten",
    sign_place: "Jag spärrar mitt personnummer hos alla anslutna banker och betaltjänster.",
    sign_renew: "Jag förlänger spärren på mitt personnummer.",
    sign_lift: "Jag tar bort spärren på mitt personnummer.",
    sign_until: "Spärren gäller till",
    sign_report: "Polisanmälan",
    login_visible: "Inloggning till Bedrägerispärr",
    agent_title: "Kundtjänst – verifiera uppringare",
    agent_login_text: "Logga in med ditt eget BankID. Bara handläggare som din organisation har registrerat kommer in.",
    agent_refused: "Du är inte registrerad som handläggare, din behörighet har upphört eller din organisation är avstängd.",
    agent_form_title: "Ny verifiering",
    agent_pn_label: "Personnummer som uppringaren uppger",
    agent_pn_help: "12 siffror, till exempel 19900101-2385.",
    agent_initiator_legend: "Vem ringde?",
    agent_initiator_user: "Kunden ringde oss",
    agent_initiator_rp: "Vi ringde kunden",
    agent_phone_label: "Telefonnummer samtalet kommer från (valfritt)",
    agent_start: "Verifiera med BankID",
    agent_next_call: "Nästa samtal",
    agent_say: "Be kunden öppna BankID-appen och bekräfta samtalet. Be aldrig kunden läsa upp en kod.",
    agent_verified: "VERIFIERAD",
    agent_not_verified: "INTE VERIFIERAD",
    agent_pending: "VÄNTAR PÅ KUNDEN",
    agent_declined: "Personen nekade samtalet i BankID: det är inte hen du pratar med.",
    agent_cancelled: "Verifieringen avbröts.",
    agent_expired: "Kunden bekräftade inte i tid.",
    agent_started_elsewhere: "En annan BankID-order startades för personen. Starta om.",
    agent_unavailable: "BankID svarar inte just nu. Försök igen om en stund.",
    agent_bankid_refused: "BankID godtog inte personens BankID.",
    agent_name: "Namn enligt BankID",
    agent_warning_flagged: "VARNING: personnumret är spärrat för bedrägeri. Var extra noggrann.",
    agent_warning_reported_pn: "VARNING: personnumret finns i polisanmälda bedrägerier.",
    agent_warning_reported_phone: "VARNING: telefonnumret finns i polisanmälda bedrägerier.",
    agent_cancel: "Avbryt verifieringen",
    agent_invalid_pn: "Personnumret är inte giltigt. Kontrollera siffrorna.",
    agent_invalid_phone: "Telefonnumret är inte giltigt.",
};

pub static EN: Texts = Texts {
    lang: Lang::En,
    service: "Fraud flag",
    switch_to: "Svenska",
    skip_to_content: "Skip to content",
    start_title: "Flag your personal number against fraud",
    start_lead: "Lost your ID card, tricked into using your BankID, or had your details leaked? With one action you flag your personal number at every connected bank and payment provider.",
    start_how: "How a flag works",
    start_how_text: "When someone tries to open an account, take a loan or make a payment in your name, the bank is told “flagged – verify identity”. The bank must then check that it really is you. At any time you can see who looked you up, renew the flag or lift it.",
    start_free: "The service is free of charge.",
    start_privacy: "Your personal number is never stored in clear text, only as a keyed checksum.",
    login: "Log in",
    login_title: "Log in with BankID",
    login_text: "You log in with BankID on this device, or by scanning a QR code with the BankID app on your phone.",
    login_button: "Log in with BankID",
    bankid_title_login: "Identify yourself with BankID",
    bankid_title_sign: "Sign with BankID",
    qr_alt: "QR code to scan with the BankID app. If you cannot scan it, choose “Open BankID on this device”.",
    qr_help: "Start the BankID app on your phone, tap the QR symbol and point the camera at the QR code.",
    open_on_device: "Open BankID on this device",
    refresh: "Refresh",
    cancel: "Cancel",
    my_title: "My page",
    logged_in_as: "Logged in as",
    logout: "Log out",
    flags_active: "Active flags",
    flags_past: "Past flags",
    no_flags: "No flags.",
    kind: "Kind",
    since: "Since",
    until: "Valid until",
    placed_by: "Placed by",
    placed_by_you: "You",
    police_report: "Police report",
    status: "Status",
    status_active: "Active",
    status_lifted: "Lifted",
    status_expired: "Expired",
    kind_consumer: "Your own flag",
    kind_identity_theft: "Identity theft",
    kind_police_report: "Police report",
    contact_member: "To lift it, contact the one who placed it:",
    place_title: "Place a flag",
    place_text: "The flag applies at every connected bank and payment provider from the moment you sign.",
    duration: "Duration",
    days_30: "30 days",
    days_365: "1 year",
    days_730: "2 years",
    days_1826: "5 years (requires a police report)",
    police_report_label: "Police report number (optional)",
    police_report_help: "For example 5000-K123456-24. With a police report the flag can last up to 5 years.",
    place_button: "Flag my personal number",
    renew_button: "Renew",
    lift_button: "Lift the flag",
    actions: "Actions",
    lookups_title: "Who checked me",
    lookups_text: "Every time a bank or payment provider checks your personal number it shows here, with its name, the time, the purpose and the answer it got.",
    lookups_link: "See who checked me",
    no_lookups: "Nobody has looked you up.",
    when: "When",
    who: "Who",
    what: "What",
    why: "Purpose",
    told: "Answer",
    older: "Older",
    newest: "Newest",
    export_link: "Download everything about me (JSON)",
    export_text: "The file holds your flags and every lookup, with proofs against the signed audit log so that anyone can check that the list was not altered.",
    back_to_my_page: "Back to my page",
    done_title: "Done",
    done_placed: "Your personal number is flagged. The flag is valid until",
    done_renewed: "The flag is renewed. It is now valid until",
    done_lifted: "The flag is lifted.",
    error_title: "Something went wrong",
    try_again: "Try again",
    logged_out_title: "You are logged out",
    logged_out_text: "Your session has ended. Close the browser if you are using a shared computer.",
    too_many_title: "Too many attempts",
    too_many_text: "Please wait a moment and try again.",
    not_found_title: "Page not found",
    not_found_text: "Check the address or go to the start page.",
    session_over: "You have been inactive for too long or are not logged in. Please log in again.",
    forbidden_text: "The request could not be verified. Reload the page and try again.",
    unavailable_text: "The service is not available right now. Please try again in a moment.",
    signed_by_other: "The signature was made with another BankID than the one you logged in with. Nothing was changed.",
    not_changeable: "That flag cannot be changed here.",
    invalid_police_report: "A police report number looks like 5000-K123456-24: four digits, K and a running number, then the year's two digits.",
    invalid_duration: "Choose one of the durations. 5 years requires a police report number, and a renewal must last longer than the flag already does.",
    you: "You",
    the_hub: "The service",
    sign_place: "I flag my personal number at every connected bank and payment provider.",
    sign_renew: "I renew the flag on my personal number.",
    sign_lift: "I lift the flag on my personal number.",
    sign_until: "The flag is valid until",
    sign_report: "Police report",
    login_visible: "Login to Fraud flag",
    agent_title: "Customer service – verify a caller",
    agent_login_text: "Log in with your own BankID. Only agents your organisation has enrolled get in.",
    agent_refused: "You are not enrolled as an agent, your enrolment has ended, or your organisation is suspended.",
    agent_form_title: "New verification",
    agent_pn_label: "Personal number the caller gives",
    agent_pn_help: "12 digits, for example 19900101-2385.",
    agent_initiator_legend: "Who called?",
    agent_initiator_user: "The customer called us",
    agent_initiator_rp: "We called the customer",
    agent_phone_label: "Phone number of the call (optional)",
    agent_start: "Verify with BankID",
    agent_next_call: "Next call",
    agent_say: "Ask the customer to open the BankID app and confirm the call. Never ask the customer to read out a code.",
    agent_verified: "VERIFIED",
    agent_not_verified: "NOT VERIFIED",
    agent_pending: "WAITING FOR THE CUSTOMER",
    agent_declined: "The person declined the call in BankID: you are not talking to them.",
    agent_cancelled: "The verification was cancelled.",
    agent_expired: "The customer did not confirm in time.",
    agent_started_elsewhere: "Another BankID order started for the person. Start again.",
    agent_unavailable: "BankID is not answering right now. Try again in a moment.",
    agent_bankid_refused: "BankID did not accept the person's BankID.",
    agent_name: "Name according to BankID",
    agent_warning_flagged: "WARNING: the personal number is flagged for fraud. Take extra care.",
    agent_warning_reported_pn: "WARNING: the personal number appears in police-reported fraud.",
    agent_warning_reported_phone: "WARNING: the phone number appears in police-reported fraud.",
    agent_cancel: "Cancel the verification",
    agent_invalid_pn: "The personal number is not valid. Check the digits.",
    agent_invalid_phone: "The phone number is not valid.",
};

impl Texts {
    pub fn purpose(&self, purpose: Option<Purpose>) -> &'static str {
        let sv = self.lang == Lang::Sv;
        match (purpose, sv) {
            (Some(Purpose::AccountOpening), true) => "Öppna konto",
            (Some(Purpose::AccountOpening), false) => "Opening an account",
            (Some(Purpose::CreditApplication), true) => "Kreditansökan",
            (Some(Purpose::CreditApplication), false) => "Credit application",
            (Some(Purpose::Payment), true) => "Betalning",
            (Some(Purpose::Payment), false) => "Payment",
            (Some(Purpose::PayeeCheck), true) => "Kontroll av betalningsmottagare",
            (Some(Purpose::PayeeCheck), false) => "Checking a payee",
            (Some(Purpose::CustomerService), true) => "Kundtjänst",
            (Some(Purpose::CustomerService), false) => "Customer service",
            (Some(Purpose::FraudInvestigation), true) => "Bedrägeriutredning",
            (Some(Purpose::FraudInvestigation), false) => "Fraud investigation",
            (None, true) => "–",
            (None, false) => "–",
        }
    }

    /// What an entry about the person records, in plain words.
    pub fn action(&self, action: Action, outcome: Outcome) -> &'static str {
        let sv = self.lang == Lang::Sv;
        match (action, outcome, sv) {
            (Action::Match, _, true) => "Kontrollerade ditt personnummer",
            (Action::Match, _, false) => "Checked your personal number",
            (Action::FlagPlace, _, true) => "Lade en spärr",
            (Action::FlagPlace, _, false) => "Placed a flag",
            (Action::FlagRenew, _, true) => "Förlängde en spärr",
            (Action::FlagRenew, _, false) => "Renewed a flag",
            (Action::FlagLift, _, true) => "Tog bort en spärr",
            (Action::FlagLift, _, false) => "Lifted a flag",
            (Action::FlagRead, _, true) => "Läste en spärr",
            (Action::FlagRead, _, false) => "Read a flag",
            (Action::CallerVerifyStart, _, true) => "Bad dig bekräfta ett telefonsamtal med BankID",
            (Action::CallerVerifyStart, _, false) => {
                "Asked you to confirm a phone call with BankID"
            }
            (Action::CallerVerifyEnd, _, true) => "Telefonverifiering avslutad",
            (Action::CallerVerifyEnd, _, false) => "Phone verification ended",
            (_, _, true) => "Annan åtgärd",
            (_, _, false) => "Other action",
        }
    }

    /// What a member was told by a match (or a caller verification).
    pub fn told(&self, action: Action, outcome: Outcome) -> &'static str {
        let sv = self.lang == Lang::Sv;
        if action == Action::CallerVerifyEnd {
            return match (outcome, sv) {
                (Outcome::Verified, true) => "Du bekräftade samtalet",
                (Outcome::Verified, false) => "You confirmed the call",
                (Outcome::DeclinedCall, true) => "Du nekade samtalet",
                (Outcome::DeclinedCall, false) => "You declined the call",
                (Outcome::Cancelled, true) => "Avbruten",
                (Outcome::Cancelled, false) => "Cancelled",
                (Outcome::Expired, true) => "Ingen bekräftelse i tid",
                (Outcome::Expired, false) => "Not confirmed in time",
                (_, true) => "Misslyckades",
                (_, false) => "Failed",
            };
        }
        if action != Action::Match && action != Action::CallerVerifyStart {
            return "–";
        }
        match (outcome, sv) {
            (Outcome::Flagged, true) => "Spärrat – kontrollera identiteten",
            (Outcome::Flagged, false) => "Flagged – verify identity",
            (Outcome::FlaggedReported, true) => "Spärrat och polisanmält",
            (Outcome::FlaggedReported, false) => "Flagged and reported",
            (Outcome::Reported, true) => "Polisanmält",
            (Outcome::Reported, false) => "Reported",
            (Outcome::Clear, true) => "Inte spärrat",
            (Outcome::Clear, false) => "Not flagged",
            (_, true) => "Avvisad",
            (_, false) => "Refused",
        }
    }

    /// BankID's recommended user message for a pending or failed order.
    pub fn hint(&self, hint: Option<&HintCode>, failed: bool, qr: bool) -> &'static str {
        Rfa::for_hint(hint, failed, qr).text(self.lang == Lang::Sv)
    }
}

/// BankID's recommended user messages ("RFA" codes, BankID RP guidelines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Rfa {
    Rfa1,
    Rfa3,
    Rfa4,
    Rfa5,
    Rfa6,
    Rfa8,
    Rfa9,
    Rfa13,
    Rfa14,
    Rfa15,
    Rfa16,
    Rfa17,
    Rfa21,
    Rfa22,
    Rfa23,
}

impl Rfa {
    /// The message BankID recommends for a collect's hint code (`qr`: the person is
    /// shown a QR code rather than an app started on this device).
    pub fn for_hint(hint: Option<&HintCode>, failed: bool, qr: bool) -> Rfa {
        match (hint, failed) {
            (Some(HintCode::OutstandingTransaction | HintCode::NoClient), false) => {
                if qr {
                    Rfa::Rfa1
                } else {
                    Rfa::Rfa13
                }
            }
            (Some(HintCode::Started), false) => {
                if qr {
                    Rfa::Rfa15
                } else {
                    Rfa::Rfa14
                }
            }
            (Some(HintCode::UserSign), false) => Rfa::Rfa9,
            (Some(HintCode::UserMrtd), false) => Rfa::Rfa23,
            (_, false) => Rfa::Rfa21,
            (Some(HintCode::ExpiredTransaction), true) => Rfa::Rfa8,
            (Some(HintCode::CertificateErr), true) => Rfa::Rfa16,
            (Some(HintCode::UserCancel), true) => Rfa::Rfa6,
            (Some(HintCode::Cancelled), true) => Rfa::Rfa3,
            (Some(HintCode::StartFailed), true) => Rfa::Rfa17,
            (_, true) => Rfa::Rfa22,
        }
    }

    /// The message for an error BankID answered (or the failure to reach it).
    pub fn for_error(e: &crate::bankid::BankIdError) -> Rfa {
        use crate::bankid::BankIdError as E;
        match e {
            E::AlreadyInProgress { .. } => Rfa::Rfa4,
            E::RequestTimeout { .. }
            | E::Maintenance { .. }
            | E::InternalError { .. }
            | E::TooManyRequests
            | E::Transport(_) => Rfa::Rfa5,
            _ => Rfa::Rfa22,
        }
    }

    pub fn text(self, sv: bool) -> &'static str {
        match (self, sv) {
            (Rfa::Rfa1, true) => "Starta BankID-appen.",
            (Rfa::Rfa1, false) => "Start your BankID app.",
            (Rfa::Rfa3, true) => "Åtgärden avbruten. Försök igen.",
            (Rfa::Rfa3, false) => "Action cancelled. Please try again.",
            (Rfa::Rfa4, true) => {
                "En identifiering eller underskrift för det här personnumret är redan påbörjad. Försök igen."
            }
            (Rfa::Rfa4, false) => {
                "An identification or signing for this personal number is already started. Please try again."
            }
            (Rfa::Rfa5, true) => "Internt tekniskt fel. Försök igen.",
            (Rfa::Rfa5, false) => "Internal error. Please try again.",
            (Rfa::Rfa6, true) => "Åtgärden avbruten.",
            (Rfa::Rfa6, false) => "Action cancelled.",
            (Rfa::Rfa8, true) => {
                "BankID-appen svarar inte. Kontrollera att den är startad och att du har internetanslutning. Om du inte har något giltigt BankID kan du skaffa ett hos din bank. Försök sedan igen."
            }
            (Rfa::Rfa8, false) => {
                "The BankID app is not responding. Please check that it's started and that you have internet access. If you don't have a valid BankID you can get one from your bank. Try again."
            }
            (Rfa::Rfa9, true) => {
                "Skriv in din säkerhetskod i BankID-appen och välj Identifiera eller Skriv under."
            }
            (Rfa::Rfa9, false) => {
                "Enter your security code in the BankID app and select Identify or Sign."
            }
            (Rfa::Rfa13, true) => "Försöker starta BankID-appen.",
            (Rfa::Rfa13, false) => "Trying to start your BankID app.",
            (Rfa::Rfa14, true) => {
                "Söker efter BankID, det kan ta en liten stund … Om det har gått några sekunder och inget BankID har hittats har du sannolikt inget BankID som går att använda för den aktuella identifieringen/underskriften i den här enheten. Om du har ett BankID-kort, sätt in det i kortläsaren. Om du inte har något BankID kan du skaffa ett hos din bank."
            }
            (Rfa::Rfa14, false) => {
                "Searching for BankID, it may take a little while … If a few seconds have passed and still no BankID has been found, you probably don't have a BankID which can be used for this identification/signing on this device. If you have a BankID card, please insert it into your card reader. If you don't have a BankID you can get one from your bank."
            }
            (Rfa::Rfa15, true) => {
                "Söker efter BankID, det kan ta en liten stund … Om det har gått några sekunder och inget BankID har hittats har du sannolikt inget BankID som går att använda för den aktuella identifieringen/underskriften i den här enheten. Om du inte har något BankID kan du skaffa ett hos din bank."
            }
            (Rfa::Rfa15, false) => {
                "Searching for BankID, it may take a little while … If a few seconds have passed and still no BankID has been found, you probably don't have a BankID which can be used for this identification/signing on this device. If you don't have a BankID you can get one from your bank."
            }
            (Rfa::Rfa16, true) => {
                "Det BankID du försöker använda är för gammalt eller spärrat. Använd ett annat BankID eller skaffa ett nytt hos din bank."
            }
            (Rfa::Rfa16, false) => {
                "The BankID you are trying to use is blocked or too old. Please use another BankID or get a new one from your bank."
            }
            (Rfa::Rfa17, true) => {
                "Misslyckades att läsa av QR-koden. Starta BankID-appen och läs av QR-koden. Kontrollera att BankID-appen är uppdaterad. Om du inte har BankID-appen måste du installera den och skaffa ett BankID hos din bank. Installera appen från din appbutik eller https://install.bankid.com."
            }
            (Rfa::Rfa17, false) => {
                "Failed to scan the QR code. Start the BankID app and scan the QR code. Check that the BankID app is up to date. If you don't have the BankID app, you need to install it and get a BankID from your bank. Install the app from your app store or https://install.bankid.com."
            }
            (Rfa::Rfa21, true) => "Identifiering eller underskrift pågår.",
            (Rfa::Rfa21, false) => "Identification or signing in progress.",
            (Rfa::Rfa22, true) => "Okänt fel. Försök igen.",
            (Rfa::Rfa22, false) => "Unknown error. Please try again.",
            (Rfa::Rfa23, true) => "Fotografera och läs av din ID-handling med BankID-appen.",
            (Rfa::Rfa23, false) => {
                "Process your machine readable travel document using the BankID app."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_is_honoured_by_quality_and_swedish_is_the_default() {
        assert_eq!(Lang::negotiate(None, None), Lang::Sv);
        assert_eq!(Lang::negotiate(None, Some("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(
            Lang::negotiate(None, Some("de, en;q=0.5, sv;q=0.8")),
            Lang::Sv
        );
        assert_eq!(Lang::negotiate(None, Some("fr")), Lang::Sv);
        assert_eq!(Lang::negotiate(Some("en"), Some("sv")), Lang::En);
        assert_eq!(Lang::negotiate(Some("xx"), Some("en")), Lang::En);
    }

    #[test]
    fn every_hint_has_a_message_in_both_languages() {
        let hints = [
            HintCode::OutstandingTransaction,
            HintCode::NoClient,
            HintCode::Started,
            HintCode::UserSign,
            HintCode::UserMrtd,
            HintCode::ExpiredTransaction,
            HintCode::CertificateErr,
            HintCode::UserCancel,
            HintCode::Cancelled,
            HintCode::StartFailed,
            HintCode::Other("new".into()),
        ];
        for h in &hints {
            for failed in [false, true] {
                let sv = SV.hint(Some(h), failed, true);
                let en = EN.hint(Some(h), failed, true);
                assert!(!sv.is_empty() && !en.is_empty());
                assert_ne!(sv, en, "{h:?}");
            }
        }
        assert_eq!(
            EN.hint(Some(&HintCode::UserCancel), true, true),
            "Action cancelled."
        );
        assert_eq!(
            SV.hint(Some(&HintCode::UserSign), false, true),
            Rfa::Rfa9.text(true)
        );
    }
}
