// Starts Swagger UI on the API documentation page (templates/api/docs.html).
// The spec URL comes from a data- attribute: our CSP allows no inline script.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null, // the default would load a badge from validator.swagger.io
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true
  });
})();
