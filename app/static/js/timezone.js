// The reader's time zone, as their browser knows it, for the server to write dates in it and read
// the deadlines typed in it (a cookie every page sets once; nothing else is stored).
(function () {
  "use strict";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var cookie = "delphi_tz=" + zone;  // "Europe/Paris": letters, digits, / _ + - only
    if (zone && document.cookie.split("; ").indexOf(cookie) < 0) {
      document.cookie = cookie + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (error) { /* an old browser: dates stay in UTC, and say so */ }
})();
