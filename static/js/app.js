// Tell the server the viewer's time zone so dates render in it (imports.middleware).
(function () {
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf("tz=" + tz) === -1) {
      document.cookie = "tz=" + encodeURIComponent(tz) + ";path=/;max-age=31536000;samesite=lax";
    }
  } catch (e) { /* old browser: server time zone it is */ }
})();
