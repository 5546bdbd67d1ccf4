/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1, serving the `resolve` URL layout the way huggingface.co does:
 * HEAD/GET /<org>/<name>/resolve/<revision>/<file> answers with X-Repo-Commit and an ETag (git blob sha1) for
 * regular files; LFS files (*.safetensors) answer 302 to a CDN (a second server, i.e. another origin) with
 * X-Linked-Etag (sha256) and X-Linked-Size. Errors carry X-Error-Code as the Hub's do (GatedRepo, RepoNotFound,
 * EntryNotFound, RevisionNotFound). Knobs let a test drop connections mid-file or corrupt bytes.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Repo {
  /** revision name (branch/tag) -> commit hash */
  refs: Record<string, string>;
  /** commit hash -> files */
  commits: Record<string, Record<string, Uint8Array>>;
  /** Needs `Authorization: Bearer <token>`. */
  gated_token?: string;
  /** Answer with a relative redirect to this repo id (a renamed repo). */
  moved_to?: string;
}

export interface LoggedRequest {
  method: string;
  url: string;
  range: string | null;
  authorization: string | null;
  server: "hub" | "cdn";
}

export const gitSha1 = (b: Uint8Array) => createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");
export const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export class FakeHub {
  repos = new Map<string, Repo>();
  log: LoggedRequest[] = [];
  /** The next N CDN GETs send half of what they should, then drop the connection. */
  dropNext = 0;
  /** CDN bytes are flipped (same length): the checksum must catch it. */
  corrupt = false;
  /** Sent instead of the real ETag of regular files (a hostile server). */
  etagOverride: string | null = null;
  private hub!: Server;
  private cdn!: Server;
  private blobs = new Map<string, Uint8Array>();
  endpoint = "";
  cdnOrigin = "";

  async start(): Promise<void> {
    this.hub = createServer((req, res) => this.serveHub(req, res));
    this.cdn = createServer((req, res) => this.serveCdn(req, res));
    await new Promise<void>((r) => this.hub.listen(0, "127.0.0.1", r));
    await new Promise<void>((r) => this.cdn.listen(0, "127.0.0.1", r));
    this.endpoint = `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
    this.cdnOrigin = `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.hub.closeAllConnections();
    this.cdn.closeAllConnections();
    await new Promise((r) => this.hub.close(r));
    await new Promise((r) => this.cdn.close(r));
  }

  private record(req: IncomingMessage, server: "hub" | "cdn") {
    this.log.push({
      method: req.method!,
      url: req.url!,
      range: (req.headers.range as string) ?? null,
      authorization: (req.headers.authorization as string) ?? null,
      server,
    });
  }

  private error(res: ServerResponse, status: number, code: string, commit?: string) {
    res.writeHead(status, {
      "x-error-code": code,
      "x-error-message": code,
      ...(commit ? { "x-repo-commit": commit } : {}),
    });
    res.end();
  }

  private serveHub(req: IncomingMessage, res: ServerResponse) {
    this.record(req, "hub");
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(req.url!.split("?")[0]);
    if (!m) return this.error(res, 404, "RepoNotFound");
    const [, repoId, revision, file] = m.map(decodeURIComponent);
    const repo = this.repos.get(repoId);
    if (!repo) return this.error(res, 404, "RepoNotFound");
    if (repo.gated_token && req.headers.authorization !== `Bearer ${repo.gated_token}`)
      return this.error(res, 401, "GatedRepo");
    if (repo.moved_to) {
      res.writeHead(307, { location: `/${repo.moved_to}/resolve/${revision}/${file}` });
      return res.end();
    }
    const commit = repo.refs[revision] ?? (repo.commits[revision] ? revision : undefined);
    if (!commit) return this.error(res, 404, "RevisionNotFound");
    const bytes = repo.commits[commit][file];
    if (!bytes) return this.error(res, 404, "EntryNotFound", commit);
    if (file.endsWith(".safetensors")) {
      const h = sha256(bytes);
      this.blobs.set(h, bytes);
      res.writeHead(302, {
        location: `${this.cdnOrigin}/cdn/${h}?signature=xyz`,
        "x-repo-commit": commit,
        "x-linked-etag": `"${h}"`,
        "x-linked-size": String(bytes.length),
        "content-length": "0",
      });
      return res.end();
    }
    res.writeHead(200, {
      "x-repo-commit": commit,
      etag: `"${this.etagOverride ?? gitSha1(bytes)}"`,
      "content-length": String(bytes.length),
    });
    res.end(req.method === "HEAD" ? undefined : Buffer.from(bytes));
  }

  private serveCdn(req: IncomingMessage, res: ServerResponse) {
    this.record(req, "cdn");
    const h = /^\/cdn\/([0-9a-f]{64})/.exec(req.url!)?.[1];
    let bytes = h ? this.blobs.get(h) : undefined;
    if (!bytes) {
      res.writeHead(404);
      return res.end();
    }
    if (this.corrupt) bytes = bytes.map((b, i) => (i === 100 ? b ^ 0xff : b));
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec((req.headers.range as string) ?? "");
    if (range) start = Number(range[1]);
    const body = bytes.subarray(start);
    res.writeHead(range ? 206 : 200, {
      "content-length": String(body.length),
      ...(range ? { "content-range": `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
    });
    if (req.method === "HEAD") return res.end();
    if (this.dropNext > 0) {
      this.dropNext--;
      res.write(Buffer.from(body.subarray(0, Math.floor(body.length / 2))), () => res.socket?.destroy());
      return;
    }
    res.end(Buffer.from(body));
  }
}
