/**
 * Errors of the Hub resolver, named after huggingface_hub's (`huggingface_hub.errors`), so a user who knows the
 * Python library recognizes them. All are LlamaErrors: the CLI prints them on one line and exits with 2.
 */
import { LlamaError } from "../errors.ts";

/** Base class: a Hub id that cannot be resolved to local files. `repo_id` and `filename` name what was asked for. */
export class HubError extends LlamaError {
  constructor(
    readonly repo_id: string,
    readonly filename: string | null,
    message: string,
  ) {
    super(`${repo_id}${filename ? `/${filename}` : ""}: ${message}`);
  }
}

/** The file is not in the local cache and the network may not be used (HF_HUB_OFFLINE=1 or local_files_only). */
export class LocalEntryNotFoundError extends HubError {}

/** The repository does not exist, or is private and the token does not give access (the Hub answers 401 or 404). */
export class RepositoryNotFoundError extends HubError {}

/** The repository is gated (e.g. meta-llama/*): accept its terms on the Hub and pass a token (HF_TOKEN). */
export class GatedRepoError extends HubError {}

/** The revision (branch, tag or commit) does not exist in the repository. */
export class RevisionNotFoundError extends HubError {}

/** The repository exists but holds no such file. */
export class EntryNotFoundError extends HubError {}

/** The transfer failed (connection dropped, timeout, server error) or the bytes do not match the server's checksum. */
export class HubDownloadError extends HubError {}
