/* Starts Swagger UI (vendored) on the API's OpenAPI document. */
window.addEventListener("load", function () {
  window.SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
