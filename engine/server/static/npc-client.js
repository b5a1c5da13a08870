// npc-client.js: a small client for `npc serve`, for browsers and Node (>= 20; Node 20 needs
// `--experimental-websocket`, or pass a WebSocket class in the options).
//
//   import { NpcClient } from "./npc-client.js";
//   const client = new NpcClient("http://127.0.0.1:8765", { credential: token });
//   const session = await client.connect();               // a socket; resolves on `hello`
//   const turn = session.say("mira", "Hello!");
//   turn.on("sentence", (m) => bubble(m.text));
//   const final = await turn.result;                       // the `done` or `failed` message
//
// Messages are those of docs/api/socket.schema.json; HTTP errors throw NpcError with the
// server's machine-readable `code`.

export class NpcError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "NpcError";
    this.status = status;
    this.code = code;
  }
}

/** One turn on a socket: its messages as they come, and its final message. */
export class NpcTurn {
  constructor(ref) {
    this.ref = ref;
    this.id = null;
    this.messages = [];
    this._handlers = {};
    this._waiters = [];
    this.result = new Promise((resolve, reject) => {
      this._resolve = resolve;
      this._reject = reject;
    });
  }

  /** Call `fn(message)` for each message of `type` ("started", "delta", "sentence", ...). */
  on(type, fn) {
    (this._handlers[type] ||= []).push(fn);
    return this;
  }

  /** The reply's text so far (its deltas joined). */
  get text() {
    return this.messages.filter((m) => m.type === "delta").map((m) => m.text).join("");
  }

  _push(message) {
    if (message.type === "started") this.id = message.turn;
    this.messages.push(message);
    for (const fn of this._handlers[message.type] || []) fn(message);
    for (const fn of this._handlers["*"] || []) fn(message);
    const waiters = this._waiters.splice(0);
    for (const wake of waiters) wake();
    if (message.type === "done" || message.type === "failed") this._resolve(message);
    if (message.type === "error") this._reject(new NpcError(0, message.code, message.message));
  }

  /** Iterate over the turn's messages, ending after `done` or `failed`. */
  async *[Symbol.asyncIterator]() {
    let i = 0;
    for (;;) {
      while (i < this.messages.length) {
        const message = this.messages[i++];
        yield message;
        if (["done", "failed", "error"].includes(message.type)) return;
      }
      await new Promise((wake) => this._waiters.push(wake));
    }
  }
}

/** A player's socket session. */
export class NpcSession {
  constructor(socket) {
    this.socket = socket;
    this.hello = null;
    this.turns = new Map(); // ref -> NpcTurn
    this.byId = new Map(); // turn id -> NpcTurn
    this._refs = 0;
    this._handlers = {};
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", (event) => resolve({ code: event.code, reason: event.reason }));
    });
    this.ready = new Promise((resolve, reject) => {
      socket.addEventListener("message", (event) => {
        const message = JSON.parse(typeof event.data === "string" ? event.data : String(event.data));
        if (message.type === "hello") {
          this.hello = message;
          resolve(message);
        }
        this._dispatch(message);
      });
      this.closed.then(({ code, reason }) => reject(new NpcError(code - 4000, reason || "closed", `socket closed (${code})`)));
    });
  }

  /** Call `fn(message)` for every message of `type` (or "*"), whatever its turn. */
  on(type, fn) {
    (this._handlers[type] ||= []).push(fn);
    return this;
  }

  _dispatch(message) {
    let turn = null;
    if (message.type === "started" && message.ref != null) {
      turn = this.turns.get(message.ref) || null;
      if (turn) this.byId.set(message.turn, turn);
    } else if (message.turn != null) {
      turn = this.byId.get(message.turn) || null;
    } else if (message.type === "error" && message.ref != null) {
      turn = this.turns.get(message.ref) || null;
    }
    for (const fn of this._handlers[message.type] || []) fn(message);
    for (const fn of this._handlers["*"] || []) fn(message);
    if (turn) {
      turn._push(message);
      if (["done", "failed", "error"].includes(message.type)) {
        this.turns.delete(turn.ref);
        if (turn.id != null) this.byId.delete(turn.id);
      }
    }
  }

  _start(payload) {
    const ref = `r${++this._refs}`;
    const turn = new NpcTurn(ref);
    this.turns.set(ref, turn);
    this.socket.send(JSON.stringify({ ...payload, ref }));
    return turn;
  }

  /** The player says `text` to `character`; returns the turn. */
  say(character, text, { playerName } = {}) {
    const payload = { type: "say", character, text };
    if (playerName) payload.player_name = playerName;
    return this._start(payload);
  }

  /** `character` greets the player; returns the turn. */
  greet(character, { playerName } = {}) {
    const payload = { type: "greet", character };
    if (playerName) payload.player_name = playerName;
    return this._start(payload);
  }

  /** Stop a turn (an NpcTurn or its id); its `failed` (cancelled) follows. */
  cancel(turn) {
    const id = typeof turn === "number" ? turn : turn.id;
    if (id != null) this.socket.send(JSON.stringify({ type: "cancel", turn: id }));
  }

  ping() {
    this.socket.send(JSON.stringify({ type: "ping" }));
  }

  close() {
    this.socket.close(1000);
  }
}

/** HTTP and socket access to one server with one credential (a player token or a server key). */
export class NpcClient {
  constructor(baseUrl, { credential, player = null, WebSocket: SocketClass = globalThis.WebSocket, fetch: fetchFn = globalThis.fetch } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.credential = credential;
    this.player = player;
    this.WebSocket = SocketClass;
    this.fetch = (...args) => fetchFn(...args); // a bare call: browsers refuse fetch with another `this`
  }

  async request(method, path, body) {
    const headers = { Authorization: `Bearer ${this.credential}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await this.fetch(this.baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      throw new NpcError(response.status, data.code || "http_error", data.message || String(data));
    }
    return data;
  }

  _player(player) {
    const who = player || this.player;
    if (!who) throw new NpcError(0, "player_required", "name the player (or create the client with one)");
    return encodeURIComponent(who);
  }

  /** Open a socket session; resolves once the server said `hello`. */
  async connect({ player } = {}) {
    if (!this.WebSocket) throw new NpcError(0, "no_websocket", "no WebSocket class (Node 20: --experimental-websocket)");
    const url = new URL(this.baseUrl.replace(/^http/, "ws") + "/v1/session");
    url.searchParams.set("token", this.credential);
    if (player || this.player) url.searchParams.set("player", player || this.player);
    const session = new NpcSession(new this.WebSocket(url.toString()));
    await session.ready;
    return session;
  }

  characters() { return this.request("GET", "/v1/characters"); }
  character(id) { return this.request("GET", `/v1/characters/${encodeURIComponent(id)}`); }
  memories(character, player) { return this.request("GET", `/v1/players/${this._player(player)}/characters/${encodeURIComponent(character)}/memories`); }
  facts(character, player) { return this.request("GET", `/v1/players/${this._player(player)}/characters/${encodeURIComponent(character)}/facts`); }
  relationship(character, player) { return this.request("GET", `/v1/players/${this._player(player)}/characters/${encodeURIComponent(character)}/relationship`); }
  forgetMemory(memoryId, player) { return this.request("DELETE", `/v1/players/${this._player(player)}/memories/${memoryId}`); }
  exportPlayer(player) { return this.request("GET", `/v1/players/${this._player(player)}/export`); }
  forgetPlayer(player) { return this.request("DELETE", `/v1/players/${this._player(player)}`); }
  validateCharacter(filename, content) { return this.request("POST", "/v1/characters/validate", { filename, content }); }
  saveCharacter(filename, content) { return this.request("PUT", "/v1/characters", { filename, content }); }
  mintToken(player, { characters = null, ttlS = 900 } = {}) { return this.request("POST", "/v1/tokens", { player, characters, ttl_s: ttlS }); }

  /** One turn over HTTP, answered when it ends: {turn, sentences, done, failed, warnings}. */
  turn({ character, text = "", kind = "say", player, playerName } = {}) {
    return this.request("POST", "/v1/turns", this._turnBody({ character, text, kind, player, playerName }, false));
  }

  /** One turn over HTTP as Server-Sent Events: yields each message as it comes. */
  async *streamTurn({ character, text = "", kind = "say", player, playerName } = {}) {
    const response = await this.fetch(this.baseUrl + "/v1/turns", {
      method: "POST",
      headers: { Authorization: `Bearer ${this.credential}`, "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(this._turnBody({ character, text, kind, player, playerName }, true)),
    });
    if (!response.ok) {
      const data = await response.json();
      throw new NpcError(response.status, data.code, data.message);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) yield JSON.parse(data);
      }
    }
  }

  _turnBody({ character, text, kind, player, playerName }, stream) {
    const body = { character, text, kind, stream };
    if (player || this.player) body.player = player || this.player;
    if (playerName) body.player_name = playerName;
    return body;
  }
}
