"""The API's routes, one module per area; `ROUTERS` is what the app factory assembles."""

from tenantctl.serving.routes import admin, chat, documents, openai, query, search, usage

ROUTERS = [admin.router, search.router, query.router, chat.router, documents.router, usage.router, openai.router]
