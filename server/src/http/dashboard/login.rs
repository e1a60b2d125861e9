//! Sign-in and sign-out. The sign-in form carries a CSRF token in the form and in its own cookie
//! (double submit: a page on another site can neither read the cookie nor set it); a successful
//! sign-in registers a device row for the browser and starts a [`session::BrowserSession`].

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::error::WebError;
use super::layout::{csrf_field, html_response, page};
use super::problem::Problem;
use super::session::{self, SessionStore};
use super::web::{WebUser, register_web_device};
use crate::http::api::auth::{SignIn, check_password};
use crate::http::app::AppState;
use crate::http::error::ApiError;

fn login_view(problem: Option<&Problem>, csrf: &str) -> Markup {
    let body = html! {
        div.login {
            @if let Some(problem) = problem { (problem.render()) }
            form method="post" action="/dashboard/login" id="login-form" {
                (csrf_field(csrf))
                label { "用户名 " input name="username" id="username" autocomplete="username" required maxlength="100"; }
                label { "密码 " input name="password" id="password" type="password" autocomplete="current-password" required maxlength="200"; }
                button type="submit" id="login-submit" { "登录" }
            }
            p.meta { "与手机端使用同一账号。" }
        }
    };
    page("登录", "", None, body)
}

/// The sign-in page with a fresh CSRF token, in the form and in its cookie.
fn login_response(status: StatusCode, problem: Option<&Problem>, secure: bool) -> Response {
    let csrf = session::random_token();
    let jar = CookieJar::new().add(session::login_csrf_cookie(csrf.clone(), secure));
    (status, jar, html_response(login_view(problem, &csrf))).into_response()
}

/// A refusal page that tells how long to wait, with `Retry-After`.
fn wait_response(
    status: StatusCode,
    problem: &Problem,
    retry_after_s: u64,
    secure: bool,
) -> Response {
    let mut resp = login_response(status, Some(problem), secure);
    if let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

pub async fn login_form(State(state): State<AppState>) -> Response {
    login_response(StatusCode::OK, None, state.config.public_url_is_https())
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn login(
    State(state): State<AppState>,
    Extension(sessions): Extension<Arc<SessionStore>>,
    ip: crate::http::throttle::ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    crate::http::extract::Form(form): crate::http::extract::Form<LoginForm>,
) -> Result<Response, WebError> {
    let secure = state.config.public_url_is_https();
    let username = form.username.trim().to_owned();
    let refuse = |status: StatusCode, text: &str, code: &str| {
        login_response(status, Some(&Problem::new(text, code, "")), secure)
    };
    let cookie_csrf = session::cookie_value(&jar, session::LOGIN_CSRF_COOKIE);
    if !cookie_csrf.is_some_and(|c| session::tokens_equal(&c, &form.csrf)) {
        return Ok(refuse(
            StatusCode::FORBIDDEN,
            "登录表单已过期或来源不明，请重新输入。",
            "CSRF_FAILED",
        ));
    }
    if username.is_empty() || username.chars().count() > 100 || form.password.len() > 200 {
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            "用户名或密码格式不正确。",
            "BAD_CREDENTIALS",
        ));
    }
    let outcome = check_password(
        &state,
        ip,
        &username,
        form.password,
        "WEB_SIGN_IN_FAILED",
        serde_json::json!({}),
    )
    .await;
    let user = match outcome {
        Ok(SignIn::Ok(user)) => user,
        Ok(SignIn::Refused) => {
            return Ok(refuse(
                StatusCode::UNAUTHORIZED,
                "用户名或密码错误。",
                "BAD_CREDENTIALS",
            ));
        }
        Ok(SignIn::Locked { retry_after_s }) => {
            let text = format!(
                "该账号在本机登录失败次数过多，已暂时锁定，请在 {} 后再试。",
                crate::policy::credentials::wait_zh(retry_after_s)
            );
            return Ok(wait_response(
                StatusCode::TOO_MANY_REQUESTS,
                &Problem::new(text, "LOGIN_LOCKED", ""),
                retry_after_s,
                secure,
            ));
        }
        Err(
            e @ (ApiError::RateLimited { retry_after_s } | ApiError::ServerBusy { retry_after_s }),
        ) => {
            let text = format!(
                "登录请求过多，请在 {} 后再试。",
                crate::policy::credentials::wait_zh(retry_after_s)
            );
            let problem = Problem::new(text, e.code(), e.to_string());
            return Ok(wait_response(e.status(), &problem, retry_after_s, secure));
        }
        Err(e) => return Err(e.into()),
    };
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let device = register_web_device(&state, &user, agent).await?;
    let (token, _) = sessions.create(&user.id, device.id, Utc::now());
    let jar = CookieJar::new().add(session::session_cookie(token, secure));
    Ok((jar, Redirect::to("/dashboard/cases")).into_response())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    Extension(sessions): Extension<Arc<SessionStore>>,
    web: WebUser,
    jar: CookieJar,
    crate::http::extract::Form(form): crate::http::extract::Form<CsrfForm>,
) -> Result<Response, WebError> {
    web.check_csrf(&form.csrf)?;
    if let Some(token) = session::session_token(&jar) {
        sessions.remove(&token);
    }
    let jar = jar.remove(session::session_cookie_removal());
    Ok((jar, Redirect::to("/dashboard/login")).into_response())
}
