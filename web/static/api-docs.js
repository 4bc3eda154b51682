/* /api/v1/docs: Swagger UI over the box's own OpenAPI document. "Authorize" takes an API key (Bearer or
   X-API-Key); "Try it out" calls this box. */
window.addEventListener("load", function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
