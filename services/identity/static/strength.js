// The password strength hint: length is what matters (NIST SP 800-63B), so it says only that.
(function () {
  var input = document.getElementById("password"), hint = document.getElementById("strength");
  if (!input || !hint) { return; }
  input.addEventListener("input", function () {
    var n = input.value.length;
    hint.textContent = n === 0 ? "" : n < 8 ? "Too short." : n < 15 ? "Getting there: longer is stronger."
      : n < 24 ? "Good length." : "Strong length.";
  });
})();
