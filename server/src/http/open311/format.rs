//! One field list per Open311 record, rendered as JSON or XML, so the two formats can never
//! disagree. XML follows GeoReport v2: UTF-8, an XML declaration, the spec's root and item tags.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::error::Open311Error;

/// The format a client asked for with the resource's extension (`.json` / `.xml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn from_extension(extension: &str) -> Option<Format> {
        match extension {
            "json" => Some(Format::Json),
            "xml" => Some(Format::Xml),
            _ => None,
        }
    }

    /// Splits `GARBAGE.json` into (`GARBAGE`, JSON). The format is the last extension only, so
    /// ids may hold dots.
    pub fn split(file: &str) -> Result<(&str, Format), Open311Error> {
        file.rsplit_once('.')
            .and_then(|(stem, ext)| Some((stem, Format::from_extension(ext)?)))
            .filter(|(stem, _)| !stem.is_empty())
            .ok_or_else(|| Open311Error::UnknownFormat(file.to_owned()))
    }
}

/// A field value. `Null` renders as JSON `null` and as an empty XML element.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// Nested records: a JSON array, or in XML a wrapper element holding one element per record.
    List(Vec<Record>),
    /// Plain strings: a JSON array of strings, or in XML a wrapper holding one `<item>` each.
    Strings {
        item: &'static str,
        values: Vec<String>,
    },
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::Text(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::Text(text)
    }
}

impl From<Option<String>> for Value {
    fn from(text: Option<String>) -> Value {
        text.map_or(Value::Null, Value::Text)
    }
}

/// One Open311 object: its XML element name and its fields in the spec's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub tag: &'static str,
    pub fields: Vec<(&'static str, Value)>,
}

impl Record {
    pub fn new(tag: &'static str) -> Record {
        Record {
            tag,
            fields: Vec::new(),
        }
    }

    pub fn field(mut self, name: &'static str, value: impl Into<Value>) -> Record {
        self.fields.push((name, value.into()));
        self
    }
}

/// A whole response body.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A JSON array; in XML `<root>` around the records (`<services>`, `<service_requests>`,
    /// `<errors>`).
    List {
        root: &'static str,
        records: Vec<Record>,
    },
    /// A JSON object; in XML the record's own element is the root (`<service_definition>`).
    Single(Record),
}

impl Document {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Document::List { records, .. } => {
                serde_json::Value::Array(records.iter().map(record_json).collect())
            }
            Document::Single(record) => record_json(record),
        }
    }

    pub fn to_xml(&self) -> String {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        // Writing into a Vec cannot fail; the results are checked anyway so nothing is silently lost.
        let written = write_document(&mut writer, self);
        debug_assert!(written.is_ok());
        let mut text = String::from_utf8(writer.into_inner()).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The HTTP response in `format`, with a UTF-8 content type.
    pub fn respond(&self, format: Format, status: StatusCode) -> Response {
        let (body, content_type) = match format {
            Format::Json => (
                self.to_json().to_string(),
                "application/json; charset=utf-8",
            ),
            Format::Xml => (self.to_xml(), "text/xml; charset=utf-8"),
        };
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }
}

fn record_json(record: &Record) -> serde_json::Value {
    let object = record
        .fields
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value_json(value)))
        .collect();
    serde_json::Value::Object(object)
}

fn value_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Text(text) => serde_json::Value::String(text.clone()),
        Value::Int(n) => serde_json::Value::from(*n),
        Value::Float(x) => serde_json::Number::from_f64(*x)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Null => serde_json::Value::Null,
        Value::List(records) => serde_json::Value::Array(records.iter().map(record_json).collect()),
        Value::Strings { values, .. } => values
            .iter()
            .map(|v| serde_json::Value::String(v.clone()))
            .collect(),
    }
}

type XmlWriter = Writer<Vec<u8>>;

fn write_document(writer: &mut XmlWriter, document: &Document) -> std::io::Result<()> {
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    match document {
        Document::List { root, records } => {
            writer.write_event(Event::Start(BytesStart::new(*root)))?;
            for record in records {
                write_record(writer, record)?;
            }
            writer.write_event(Event::End(BytesEnd::new(*root)))
        }
        Document::Single(record) => write_record(writer, record),
    }
}

fn write_record(writer: &mut XmlWriter, record: &Record) -> std::io::Result<()> {
    writer.write_event(Event::Start(BytesStart::new(record.tag)))?;
    for (name, value) in &record.fields {
        let text = match value {
            Value::Text(text) => xml_safe(text),
            Value::Int(n) => n.to_string(),
            Value::Float(x) => x.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => {
                writer.write_event(Event::Empty(BytesStart::new(*name)))?;
                continue;
            }
            Value::List(records) => {
                writer.write_event(Event::Start(BytesStart::new(*name)))?;
                for nested in records {
                    write_record(writer, nested)?;
                }
                writer.write_event(Event::End(BytesEnd::new(*name)))?;
                continue;
            }
            Value::Strings { item, values } => {
                writer.write_event(Event::Start(BytesStart::new(*name)))?;
                for value in values {
                    write_text_element(writer, item, &xml_safe(value))?;
                }
                writer.write_event(Event::End(BytesEnd::new(*name)))?;
                continue;
            }
        };
        write_text_element(writer, name, &text)?;
    }
    writer.write_event(Event::End(BytesEnd::new(record.tag)))
}

fn write_text_element(writer: &mut XmlWriter, name: &str, text: &str) -> std::io::Result<()> {
    writer.write_event(Event::Start(BytesStart::new(name)))?;
    writer.write_event(Event::Text(BytesText::new(text)))?;
    writer.write_event(Event::End(BytesEnd::new(name)))
}

/// XML 1.0 cannot carry most control characters even escaped; user text may hold them.
fn xml_safe(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(c, '\t' | '\n' | '\r') || !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn sample() -> Document {
        Document::List {
            root: "service_requests",
            records: vec![
                Record::new("request")
                    .field("service_request_id", "0193-ab")
                    .field("description", "门口 <堆物> & \"杂物\"\u{0}")
                    .field("lat", Value::Float(39.1135))
                    .field("media_url", Value::Null),
            ],
        }
    }

    #[test]
    fn json_and_xml_carry_the_same_fields() {
        let json = sample().to_json();
        assert_eq!(json[0]["service_request_id"], "0193-ab");
        assert_eq!(json[0]["lat"], 39.1135);
        assert!(json[0]["media_url"].is_null());
        let xml = sample().to_xml();
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
            "{xml}"
        );
        assert!(
            xml.contains("<service_request_id>0193-ab</service_request_id>"),
            "{xml}"
        );
        assert!(xml.contains("&lt;堆物&gt; &amp;"), "{xml}");
        assert!(xml.contains("<media_url/>"), "{xml}");
        assert!(!xml.contains('\u{0}'));
    }

    #[test]
    fn extensions_pick_the_format() {
        assert_eq!(
            Format::split("GARBAGE.json").unwrap(),
            ("GARBAGE", Format::Json)
        );
        assert_eq!(Format::split("a.b.xml").unwrap(), ("a.b", Format::Xml));
        assert!(Format::split("GARBAGE").is_err());
        assert!(Format::split("GARBAGE.html").is_err());
        assert!(Format::split(".json").is_err());
    }
}
