//! `user add`: one account bound to a role and an org unit of the unit directory.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use xuncha_core::{Role, UnitType};

use super::CliError;
use crate::policy::audit::AuditDraft;
use crate::policy::passwords;
use crate::storage::{Storage, UserRecord};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The role an account of a unit of this type acts in when the unit is the case's assigned unit
/// (accept, return, handle): whoever belongs to the assigned unit acts for it, whatever its type
/// (issue 10 item 1), so the street office's and the committee's own accounts handle what is
/// dispatched to them (三(三)3, 二(三)) and every other unit gets a `department` account.
pub fn role_for_unit_type(unit_type: UnitType) -> Role {
    match unit_type {
        UnitType::ResidentsCommittee => Role::Committee,
        UnitType::ManagementCompany => Role::CompanyStaff,
        UnitType::StreetOffice => Role::StreetOffice,
        UnitType::CivilAffairs => Role::Admin,
        _ => Role::Department,
    }
}

/// Which kinds of unit a role may act for (DESIGN.md "Who uses it").
pub fn role_fits_unit(role: Role, unit_type: UnitType) -> bool {
    match role {
        Role::Inspector | Role::Committee => unit_type == UnitType::ResidentsCommittee,
        Role::CompanyStaff => unit_type == UnitType::ManagementCompany,
        Role::StreetOffice => unit_type == UnitType::StreetOffice,
        Role::Admin => unit_type == UnitType::CivilAffairs,
        Role::Department => !matches!(
            unit_type,
            UnitType::ResidentsCommittee
                | UnitType::ManagementCompany
                | UnitType::StreetOffice
                | UnitType::CivilAffairs
        ),
    }
}

/// The first line of the file, or of stdin; on a terminal the typed password is not echoed.
pub fn read_password(file: Option<&Path>, username: &str) -> Result<String, CliError> {
    let line = match file {
        Some(path) => super::read_file(path)?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        None if std::io::stdin().is_terminal() => read_hidden(username)?,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|source| CliError::Read {
                    path: "stdin".into(),
                    source,
                })?;
            line
        }
    };
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CliError::Invalid(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(password)
}

/// Reads a line from the terminal with echo switched off by `stty` (no unsafe terminal code).
fn read_hidden(username: &str) -> Result<String, CliError> {
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !stty("-echo") {
        return Err(CliError::Invalid(
            "cannot switch off terminal echo; pass --password-file or pipe the password on stdin"
                .to_owned(),
        ));
    }
    eprint!("password for {username}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    stty("echo");
    eprintln!();
    read.map_err(|source| CliError::Read {
        path: "stdin".into(),
        source,
    })?;
    Ok(line)
}

/// Validates and stores the user (argon2 off the async threads), with its audit entry.
pub async fn add(
    storage: &dyn Storage,
    username: &str,
    role: &str,
    unit_id: &str,
    display_name: Option<String>,
    password: String,
) -> Result<UserRecord, CliError> {
    let username = username.trim();
    if username.is_empty()
        || username.chars().count() > 64
        || username.chars().any(char::is_whitespace)
    {
        return Err(CliError::Invalid(
            "the username must be 1 to 64 characters without spaces".to_owned(),
        ));
    }
    let role = Role::from_code(role).ok_or_else(|| {
        let known: Vec<&str> = Role::ALL.iter().map(|r| r.code()).collect();
        CliError::Invalid(format!(
            "unknown role {role:?}; one of {}",
            known.join(", ")
        ))
    })?;
    let catalog = storage.load_catalog().await?;
    let unit = catalog.unit(unit_id).ok_or_else(|| {
        CliError::Invalid(format!(
            "unit {unit_id:?} is not in the unit directory ({} units loaded)",
            catalog.units().len()
        ))
    })?;
    if !role_fits_unit(role, unit.unit_type) {
        let fits: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| role_fits_unit(**r, unit.unit_type))
            .map(|r| r.code())
            .collect();
        return Err(CliError::Invalid(format!(
            "role {} cannot act for {} ({}, a {}); use role {} (members of the unit a case is \
             dispatched to accept and handle it whatever their role)",
            role.code(),
            unit.id,
            unit.name,
            unit.unit_type.code(),
            fits.join(" or ")
        )));
    }
    let user = UserRecord {
        id: xuncha_core::ids::new_id().to_string(),
        username: username.to_owned(),
        display_name: display_name
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| username.to_owned()),
        role,
        unit_id: unit.id.clone(),
        password_hash: passwords::hash_password(password).await?,
        disabled: false,
    };
    let audit =
        AuditDraft::new("USER_CREATED", "user", user.id.clone()).detail(serde_json::json!({
            "username": user.username, "role": user.role, "unit_id": user.unit_id, "source": "cli",
        }));
    storage.create_user(user.clone(), audit).await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_fit_their_kind_of_unit() {
        assert!(role_fits_unit(
            Role::Inspector,
            UnitType::ResidentsCommittee
        ));
        assert!(!role_fits_unit(Role::Inspector, UnitType::CityManagement));
        assert!(role_fits_unit(Role::Department, UnitType::StateGrid));
        assert!(!role_fits_unit(Role::Department, UnitType::StreetOffice));
        assert!(role_fits_unit(Role::Admin, UnitType::CivilAffairs));
    }

    #[test]
    fn every_unit_type_has_a_role_that_fits_it() {
        for unit_type in UnitType::ALL {
            assert!(
                role_fits_unit(role_for_unit_type(unit_type), unit_type),
                "{unit_type}"
            );
        }
    }
}
