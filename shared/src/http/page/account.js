"use strict";
// The account page: sign in (a session cookie), show the token, copy, regenerate, sign out.
// Relative URLs, so the page works under a stage prefix (/prod/) as on localhost.
(() => {
  const base = location.pathname.replace(/\/?$/, "/");
  const $ = (id) => document.getElementById(id);
  const api = (path, options = {}) =>
    fetch(base + path, { credentials: "same-origin", cache: "no-store", ...options });
  const csrfToken = () => {
    const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    return cookie ? cookie.slice("csrftoken=".length) : "";
  };
  const status = (text) => { $("status").textContent = text; };

  function showSignIn(message) {
    $("account").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    $("password").value = "";
    status("");
  }

  async function showAccount() {
    const tokenResponse = await api("api/users/me/token/");
    if (tokenResponse.status === 401) {
      const body = await tokenResponse.json().catch(() => ({}));
      if (body.detail === "Access token expired; regenerate it.") {
        // Signed in, but the token has expired: regenerating is the way on.
        $("token").value = "";
        $("user-email").textContent = "";
        $("sign-in").hidden = true;
        $("account").hidden = false;
        status("Your access token has expired: regenerate it.");
        return;
      }
      return showSignIn();
    }
    if (!tokenResponse.ok) return status("The service is unavailable; try again later.");
    const { access_token } = await tokenResponse.json();
    const me = await api("api/users/me/", { headers: { Authorization: "Bearer " + access_token } });
    const profile = me.ok ? await me.json() : {};
    $("user-email").textContent = profile.email || "";
    $("token").value = access_token;
    $("sign-in").hidden = true;
    $("account").hidden = false;
    status("");
  }

  $("sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("sign-in-button");
    button.disabled = true;
    try {
      const response = await api("api/auth/login/", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: $("email").value, password: $("password").value }),
      });
      if (response.ok) {
        $("password").value = "";
        $("sign-in-error").textContent = "";
        return await showAccount();
      }
      const body = await response.json().catch(() => ({}));
      showSignIn(body.detail || "Sign-in failed.");
    } catch {
      showSignIn("The service is unreachable; try again later.");
    } finally {
      button.disabled = false;
    }
  });

  $("copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("token").value);
      status("Copied.");
    } catch {
      $("token").select();
      status("Press Ctrl+C (or ⌘C) to copy.");
    }
  });

  // Regenerating kills the current token at once (the spec's warning), so the page asks
  // first, in the page itself: a confirm() dialog is invisible to CSP-strict tests.
  const confirmation = (shown) => {
    $("confirm-regenerate").hidden = !shown;
    $("regenerate").disabled = shown;
    if (shown) $("confirm-regenerate-no").focus();
  };
  $("regenerate").addEventListener("click", () => {
    status("");
    confirmation(true);
  });
  $("confirm-regenerate-no").addEventListener("click", () => {
    confirmation(false);
    status("Your token is unchanged.");
  });

  $("confirm-regenerate-yes").addEventListener("click", async () => {
    confirmation(false);
    const old = $("token").value;
    const button = $("regenerate");
    button.disabled = true;
    try {
      const response = await api("api/users/me/token/regenerate/", {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken() },
      });
      if (response.status === 401) return showSignIn("Your session has ended; sign in again.");
      const body = await response.json().catch(() => ({}));
      if (!response.ok) return status(body.detail || "Could not regenerate the token.");
      $("token").value = body.access_token;
      if (old) {
        // Ask the API itself: the old token is refused from now on.
        const check = await api("api/users/me/", { headers: { Authorization: "Bearer " + old } });
        const oldToken = $("old-token");
        oldToken.replaceChildren(
          check.status === 401
            ? "Previous token, now refused (401): "
            : "Previous token (the API answered " + check.status + "): "
        );
        const code = document.createElement("code");
        code.textContent = old;
        oldToken.append(code);
        oldToken.hidden = false;
      }
      status("A new token was issued; the previous one no longer works.");
      if (!$("user-email").textContent) await showAccount();
    } finally {
      button.disabled = false;
    }
  });

  $("sign-out").addEventListener("click", async () => {
    try {
      const response = await api("api/auth/logout/", {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken() },
      });
      // 401: the session had already ended, which is what was asked.
      if (!response.ok && response.status !== 401) {
        return status("Could not sign out (" + response.status + "); try again.");
      }
    } catch {
      return status("The service is unreachable; try again later.");
    }
    $("token").value = "";
    $("old-token").hidden = true;
    confirmation(false);
    showSignIn("Signed out.");
  });

  showAccount().catch(() => status("The service is unreachable; try again later."));
})();
