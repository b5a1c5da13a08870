"""The ASGI app: HTTP routes, the player socket, SSE turns, the studio's static files.

:func:`create_app` builds a FastAPI app over a :class:`~engine.server.service.Service`. Every
route takes a server key or a player token (``Authorization: Bearer ...``; a socket may pass
``?token=`` since browsers cannot set headers on one) and answers a refusal with a 4xx and a
JSON body ``{"code": ..., "message": ...}`` (:class:`~engine.server.protocol.ErrorBody`).
The routes mirror what ``npc`` offers on the command line: turns, characters (list, show,
validate, save and reload), a player's memories, facts and relationship, player rights
(export, forget), usage and audit; plus ``/healthz``, ``/readyz`` and ``/metrics``.

Example::

    app = create_app(service)
    uvicorn.run(app, host="127.0.0.1", port=8765)

Annotations here are evaluated (no ``from __future__ import annotations``): FastAPI reads
the route signatures, which use names local to :func:`create_app`.
"""

import asyncio
import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request, WebSocket
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from engine.errors import EngineError, NotFoundError
from engine.server.auth import ApiError, Principal
from engine.server.protocol import (
    CharacterFile,
    CharacterInfo,
    DoneMessage,
    ErrorBody,
    FailedMessage,
    FileProblem,
    PlayerFacts,
    PlayerMemories,
    SentenceMessage,
    TokenBody,
    TokenInfo,
    TurnBody,
    TurnOutcome,
    ValidationReport,
    WarningMessage,
    socket_schema,
)
from engine.server.service import Service
from engine.server.session import run_session
from engine.types import Relationship

__all__ = ["STATIC_DIR", "create_app"]

log = logging.getLogger(__name__)
access_log = logging.getLogger("engine.server.access")

#: The studio page and the JavaScript client module.
STATIC_DIR = Path(__file__).with_name("static")

_bearer = HTTPBearer(auto_error=False, description="A server key or a player token.")
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 413, 422, 429, 503)
}


class Health(BaseModel):
    status: Literal["ok", "draining", "closed"]
    characters: int = 0
    active_turns: int = 0
    active_sessions: int = 0


class Forgotten(BaseModel):
    forgotten: str


class UsageRow(BaseModel):
    key: str | None
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    charge: float
    mean_latency_ms: float
    currency: str | None = None


def _replace_file(target: Path, content: str) -> None:
    """Write ``content`` to ``target`` whole or not at all (a crash never leaves half a file)."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, target)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def create_app(service: Service, *, title: str = "npc serve") -> FastAPI:
    """The app; its lifespan drains the service and closes the runtime at shutdown."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await service.drain()
        await asyncio.to_thread(service.close)

    app = FastAPI(
        title=title,
        version="1",
        summary="Characters with persona and memory, for games not written in Python.",
        description="Turns over a WebSocket (`/v1/session`, messages in docs/api/socket.schema.json) "
        "or `POST /v1/turns` (JSON or Server-Sent Events). See docs/server.md.",
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.state.service = service
    max_body = service.limiter.settings.max_message_bytes
    max_file = service.limiter.settings.max_file_bytes

    # ------------------------------------------------------------------ errors, logs, sizes

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        service.metrics.refusal(exc.code)
        return _error(exc.status, exc.code, str(exc))

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        # A bug: the log has the traceback; the client gets a code, never the details.
        log.error("request failed", exc_info=exc)
        service.metrics.refusal("internal")
        return _error(500, "internal", "the server failed on this request; its log has the details")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        service.metrics.refusal("invalid")
        return _error(422, "invalid", f"{where}: {first.get('msg')}")

    @app.middleware("http")
    async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        length = request.headers.get("content-length")
        # Character files may be longer than a message.
        cap = max_file if request.url.path.startswith("/v1/characters") else max_body
        if length is not None and (not length.isdigit() or int(length) > cap):
            service.metrics.refusal("body_too_large")
            response = _error(413, "body_too_large", f"the body is over {cap} bytes")
        elif request.method in ("POST", "PUT") and length is None:
            # A chunked body of unknown length is not read at all.
            response = _error(411, "length_required", "send a Content-Length")
        else:
            response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "other")
        service.metrics.request(name, response.status_code)
        # Never the query string (a socket may carry a token there) nor any header.
        access_log.info(
            json.dumps(
                {"method": request.method, "path": name, "status": response.status_code,
                 "ms": round((time.perf_counter() - started) * 1000, 1),
                 "who": request.scope.get("npc_who")},
                ensure_ascii=False,
            )
        )  # fmt: skip
        return response

    # ------------------------------------------------------------------ auth

    def principal(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        who = service.authenticate(credentials.credentials if credentials else None)
        request.scope["npc_who"] = who.subject
        service.limiter.hit(who, who.player)
        return who

    Who = Annotated[Principal, Depends(principal)]

    def persona_or_404(who: Principal, character: str) -> Any:
        who.check_character(character)
        persona = service.runtime.characters.get(character)
        if persona is None:
            raise ApiError(404, "unknown_character", f"no character {character!r}")
        return persona

    # ------------------------------------------------------------------ operations

    @app.get("/healthz", response_model=Health, tags=["operations"])
    async def healthz() -> Health:
        """The process is up (no credentials needed)."""
        return Health(status="ok")

    @app.get(
        "/readyz", response_model=Health, tags=["operations"], responses={503: {"model": Health}}
    )
    async def readyz() -> Any:
        """Ready for turns: 503 while draining or once the runtime is closed."""
        state: Literal["ok", "draining", "closed"] = (
            "closed" if service.runtime.closed else "draining" if service.draining else "ok"
        )
        body = Health(
            status=state, characters=len(service.runtime.characters),
            active_turns=service.metrics.active_turns, active_sessions=service.metrics.active_sessions,
        )  # fmt: skip
        return JSONResponse(body.model_dump(), status_code=200 if state == "ok" else 503)

    @app.get("/metrics", response_class=PlainTextResponse, tags=["operations"])
    async def metrics() -> PlainTextResponse:
        """Prometheus text format: turns, failures by reason, first-sentence latency, tokens, sessions."""
        return PlainTextResponse(service.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/socket.schema.json", tags=["operations"])
    async def socket_messages() -> dict[str, Any]:
        """The JSON Schema of the socket messages (as committed in docs/api/)."""
        return socket_schema()

    # ------------------------------------------------------------------ tokens

    @app.post("/v1/tokens", response_model=TokenInfo, tags=["auth"])
    async def mint_token(body: TokenBody, who: Who) -> TokenInfo:
        """Mint a short-lived player token (server key only)."""
        who.require_key()
        if body.ttl_s > service.max_token_ttl_s:
            raise ApiError(422, "ttl_too_long", f"ttl_s is over {service.max_token_ttl_s}")
        if body.player in service.runtime.characters:
            raise ApiError(422, "invalid", "a player id may not be a character id")
        token, expires = service.keyring.signer.mint(
            who.key_id, body.player, body.characters, body.ttl_s
        )
        return TokenInfo(
            token=token, player=body.player, characters=body.characters, expires_at=expires
        )

    # ------------------------------------------------------------------ turns

    @app.post(
        "/v1/turns",
        response_model=TurnOutcome,
        tags=["turns"],
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def turn(body: TurnBody, who: Who, request: Request) -> Any:
        """Run one turn. `stream: true` answers with Server-Sent Events, one per socket message
        (`event:` the message type, `data:` its JSON); otherwise one JSON object when it ends."""
        player = who.acting_player(body.player)
        queue: asyncio.Queue[BaseModel | None] = asyncio.Queue()
        run = service.start_turn(
            who, player, body.character, kind=body.kind, text=body.text,
            player_name=body.player_name, deliver=queue.put_nowait,
        )  # fmt: skip
        handle = run.handle
        assert handle is not None
        if body.stream:

            async def events() -> AsyncIterator[bytes]:
                try:
                    while (message := await queue.get()) is not None:
                        kind = getattr(message, "type", "message")
                        yield f"event: {kind}\ndata: {message.model_dump_json()}\n\n".encode()
                        if isinstance(message, SentenceMessage) and message.index == 0:
                            run.first_sentence_sent()
                finally:
                    if not handle.done:  # the client went away
                        service.cancel(handle)

            return StreamingResponse(
                events(), media_type="text/event-stream",
                headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            )  # fmt: skip
        sentences: list[str] = []
        warnings: list[str] = []
        done: DoneMessage | None = None
        failed: FailedMessage | None = None
        try:
            while (message := await queue.get()) is not None:
                if isinstance(message, SentenceMessage):
                    if message.index == 0:
                        run.first_sentence_sent()
                    sentences.append(message.text)
                elif isinstance(message, WarningMessage):
                    warnings.append(message.message)
                elif isinstance(message, DoneMessage):
                    done = message
                elif isinstance(message, FailedMessage):
                    failed = message
        finally:
            if not handle.done:
                service.cancel(handle)
        return TurnOutcome(
            turn=handle.id, sentences=sentences, done=done, failed=failed, warnings=warnings
        )

    @app.websocket("/v1/session")
    async def session(websocket: WebSocket) -> None:
        """A player's session: see docs/server.md and docs/api/socket.schema.json."""
        await run_session(service, websocket)

    # ------------------------------------------------------------------ characters

    def info(persona: Any) -> CharacterInfo:
        return CharacterInfo(
            id=persona.id, name=persona.name, languages=list(persona.languages),
            emotions=list(persona.emotions.set), actions=[a.name for a in persona.actions],
        )  # fmt: skip

    @app.get("/v1/characters", response_model=list[CharacterInfo], tags=["characters"])
    async def list_characters(who: Who) -> list[CharacterInfo]:
        """The characters this credential may talk to."""
        cast = service.runtime.characters
        return [info(cast[c]) for c in who.visible(cast)]

    @app.get("/v1/characters/{character}", tags=["characters"])
    async def show_character(character: str, who: Who) -> dict[str, Any]:
        """A character: the whole persona for a server key, a summary for a player token
        (a persona's knowledge, secrets and instructions are not for players)."""
        persona = persona_or_404(who, character)
        if who.is_key:
            data: dict[str, Any] = persona.model_dump(mode="json")
            return data
        return info(persona).model_dump()

    def check_file(body: CharacterFile) -> tuple[ValidationReport, Any]:
        from engine.persona import load_persona
        from engine.persona.io import PERSONA_SUFFIXES

        name = Path(body.filename).name
        if name != body.filename or not name.endswith(PERSONA_SUFFIXES) or name.startswith("."):
            raise ApiError(
                422,
                "bad_filename",
                f"a plain file name ending in one of {', '.join(PERSONA_SUFFIXES)}",
            )
        templates = [Path(service.characters_dir) / "templates"] if service.characters_dir else []
        with tempfile.TemporaryDirectory(prefix="npc-upload-") as folder:
            path = Path(folder) / name
            path.write_text(body.content, encoding="utf-8")
            try:
                persona = load_persona(path, template_dirs=templates)
            except EngineError as exc:
                problem = FileProblem(
                    line=getattr(exc, "line", None), column=getattr(exc, "column", None),
                    field=getattr(exc, "field", None), message=getattr(exc, "message", str(exc)),
                    suggestion=getattr(exc, "suggestion", None),
                )  # fmt: skip
                return ValidationReport(ok=False, character=None, problems=[problem]), None
        return ValidationReport(ok=True, character=persona.id, problems=[]), persona

    @app.post("/v1/characters/validate", response_model=ValidationReport, tags=["characters"])
    async def validate_character(body: CharacterFile, who: Who) -> ValidationReport:
        """Check a character file's text; problems carry their line and column."""
        who.require_key()
        report, _persona = await asyncio.to_thread(check_file, body)
        return report

    @app.put("/v1/characters", response_model=ValidationReport, tags=["characters"])
    async def save_character(body: CharacterFile, who: Who) -> ValidationReport:
        """Validate a character file and, when valid, save it to the characters folder and
        reload that character (turns already running finish with the old persona)."""
        who.require_key()
        if not service.allow_character_writes or not service.characters_dir:
            raise ApiError(403, "writes_disabled", "this server does not save character files")
        report, persona = await asyncio.to_thread(check_file, body)
        if persona is None:
            return report
        stem = Path(body.filename).stem
        if persona.id != stem:
            # One file per id: a file claiming another file's id would stop the folder loading.
            raise ApiError(
                422,
                "id_mismatch",
                f"the file defines id {persona.id!r}; save it as {persona.id}.yaml",
            )
        target = Path(service.characters_dir) / Path(body.filename).name
        others = [
            p
            for p in target.parent.glob(stem + ".*")
            if p.name != target.name and p.suffix in (".yaml", ".yml", ".json", ".toml")
        ]
        if others:
            raise ApiError(422, "id_mismatch", f"{others[0].name} already defines {stem!r}")
        await asyncio.to_thread(_replace_file, target, body.content)
        service.runtime.characters[persona.id] = persona
        log.info("character %s reloaded from %s", persona.id, target.name)
        return report.model_copy(update={"reloaded": True})

    # ------------------------------------------------------------------ a player's data

    def own(who: Principal, player: str) -> str:
        return who.acting_player(player)

    @app.get(
        "/v1/players/{player}/characters/{character}/memories",
        response_model=PlayerMemories,
        tags=["players"],
    )
    async def memories(
        player: str, character: str, who: Who, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> PlayerMemories:
        """What the character remembers about the player, newest first."""
        own(who, player)
        persona_or_404(who, character)
        found = await service.query(service.runtime.memories(character, player, limit=limit))
        return PlayerMemories(memories=found)

    @app.get(
        "/v1/players/{player}/characters/{character}/facts",
        response_model=PlayerFacts,
        tags=["players"],
    )
    async def facts(player: str, character: str, who: Who) -> PlayerFacts:
        """Facts the character holds about the player."""
        own(who, player)
        persona_or_404(who, character)
        return PlayerFacts(facts=await service.query(service.runtime.facts(character, player)))

    @app.get(
        "/v1/players/{player}/characters/{character}/relationship",
        response_model=Relationship,
        tags=["players"],
    )
    async def relationship(player: str, character: str, who: Who) -> Relationship:
        """The relationship between the character and the player."""
        own(who, player)
        persona_or_404(who, character)
        result: Relationship = await service.query(service.runtime.relationship(character, player))
        return result

    @app.delete(
        "/v1/players/{player}/memories/{memory_id}", response_model=Forgotten, tags=["players"]
    )
    async def forget_memory(
        player: str, memory_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], who: Who
    ) -> Forgotten:
        """Forget one memory about the player (only the player's own)."""
        own(who, player)

        def forget(store: Any) -> None:
            record = store.get_memory(memory_id)
            if record.player != player:  # another player's memory: as if it did not exist
                raise NotFoundError(f"no memory {memory_id}")
            store.forget_memory(memory_id, reason="player request")

        try:
            await service.query(service.runtime.on_store(forget))
        except NotFoundError as exc:
            raise ApiError(404, "not_found", f"no memory {memory_id} for this player") from exc
        return Forgotten(forgotten=f"memory {memory_id}")

    @app.get("/v1/players/{player}/export", tags=["players"])
    async def export(player: str, who: Who) -> dict[str, Any]:
        """Everything stored about the player (turns, memories, facts, relationships, usage)."""
        own(who, player)
        try:
            data: dict[str, Any] = await service.query(
                service.runtime.on_store(lambda s: s.export(player)), timeout=60
            )
        except EngineError as exc:
            raise ApiError(422, "invalid", str(exc)) from exc
        return data

    @app.delete("/v1/players/{player}", response_model=Forgotten, tags=["players"])
    async def forget_player(player: str, who: Who) -> Forgotten:
        """Remove everything stored about the player (rows, index entries, embeddings)."""
        own(who, player)
        try:
            await service.query(
                service.runtime.on_store(lambda s: s.forget(player, reason="player request")),
                timeout=60,
            )
        except EngineError as exc:
            raise ApiError(422, "invalid", str(exc)) from exc
        return Forgotten(forgotten=f"player {player}")

    # ------------------------------------------------------------------ usage and audit

    @app.get("/v1/usage", response_model=list[UsageRow], tags=["operations"])
    async def usage(
        who: Who,
        by: Literal["player", "character", "model", "day"] = "player",
        since: str | None = None,
        player: str | None = None,
    ) -> list[UsageRow]:
        """Token use, cost and charges, totalled per player (or character, model, day). Server key only."""
        who.require_key()
        from engine.memory.ledger import Ledger

        rows = await service.query(
            service.runtime.on_store(
                lambda s: Ledger(s.db).usage_totals(group_by=by, since_day=since, player=player)
            )
        )
        return [UsageRow.model_validate(r.model_dump()) for r in rows]

    @app.get("/v1/audit", tags=["operations"])
    async def audit(
        who: Who, player: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> list[dict[str, Any]]:
        """Blocked and neutralised inputs and outputs, newest first (excerpts redacted). Server key only."""
        who.require_key()
        from engine.memory.ledger import Ledger

        records = await service.query(
            service.runtime.on_store(lambda s: Ledger(s.db).audits(player=player, limit=limit))
        )
        return [r.model_dump() for r in records]

    # ------------------------------------------------------------------ the studio page

    @app.get("/studio", include_in_schema=False)
    async def studio_root() -> RedirectResponse:
        return RedirectResponse("/studio/")

    app.mount("/studio", StaticFiles(directory=STATIC_DIR, html=True), name="studio")
    return app
