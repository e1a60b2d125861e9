//! One list per stable code set: [`wire_enum!`] declares a fieldless enum whose wire code is
//! written once per variant and drives serde, `code()`, `from_code()` and `ALL` alike.

/// Declares a fieldless enum with its wire codes (stable API, DESIGN.md): serde uses the code,
/// `ALL` lists the variants in declaration order, `code()` and `from_code()` convert.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $code:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $( $(#[$variant_meta])* #[serde(rename = $code)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$($code),+].len()] = [$($name::$variant),+];

            /// The wire code, e.g. as sent in JSON.
            pub fn code(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// Parses a wire code; `None` for anything not in the set.
            pub fn from_code(code: &str) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crate::catalog::CategoryGroup;
    use crate::estate::{LampOwner, ManagementMode};
    use crate::workflow::PhotoKind;

    /// Every variant's code parses back to it and is what serde writes and reads.
    fn round_trips<T>(all: &[T], code: fn(T) -> &'static str, from_code: fn(&str) -> Option<T>)
    where
        T: Copy + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    {
        for &variant in all {
            let wire = code(variant);
            assert_eq!(from_code(wire), Some(variant), "{wire}");
            assert_eq!(serde_json::to_value(variant).unwrap(), wire, "{variant:?}");
            let parsed: T = serde_json::from_value(serde_json::json!(wire)).unwrap();
            assert_eq!(parsed, variant);
        }
        assert_eq!(from_code("NOT_A_CODE"), None);
    }

    fn codes<T: Copy>(all: &[T], code: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|&v| code(v)).collect()
    }

    #[test]
    fn the_enums_moved_onto_wire_enum_keep_their_codes() {
        // The codes these enums had under `#[serde(rename_all = "SCREAMING_SNAKE_CASE")]`.
        assert_eq!(
            codes(&ManagementMode::ALL, ManagementMode::code),
            ["COMPANY", "OWNER_SELF", "RESIDENT_SELF"]
        );
        assert_eq!(
            codes(&LampOwner::ALL, LampOwner::code),
            ["CITY", "STATE_GRID"]
        );
        assert_eq!(
            codes(&CategoryGroup::ALL, CategoryGroup::code),
            ["BEHAVIOUR", "FACILITY", "SERVICE"]
        );
        assert_eq!(
            codes(&PhotoKind::ALL, PhotoKind::code),
            ["BEFORE", "AFTER", "VERIFICATION"]
        );
        assert_eq!(LampOwner::default(), LampOwner::City);
    }

    #[test]
    fn wire_enum_codes_round_trip() {
        round_trips(
            &ManagementMode::ALL,
            ManagementMode::code,
            ManagementMode::from_code,
        );
        round_trips(&LampOwner::ALL, LampOwner::code, LampOwner::from_code);
        round_trips(
            &CategoryGroup::ALL,
            CategoryGroup::code,
            CategoryGroup::from_code,
        );
        round_trips(&PhotoKind::ALL, PhotoKind::code, PhotoKind::from_code);
        round_trips(
            &crate::Category::ALL,
            crate::Category::code,
            crate::Category::from_code,
        );
        round_trips(&crate::Role::ALL, crate::Role::code, crate::Role::from_code);
    }
}
