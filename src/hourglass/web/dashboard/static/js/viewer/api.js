// The log API as the viewer uses it (docs/api.md "Job logs"): pages by sequence number, search
// pages with their cursors, the summary, and the URLs of the live stream and the download.
// Every refusal becomes an ApiError carrying the API's status, detail and field errors.
export class ApiError extends Error {
  constructor(status, detail, errors = []) {
    super(detail);
    this.status = status;
    this.errors = errors;
  }

  // the message of the error on `field` (e.g. an invalid regular expression on `q`)
  about(field) {
    return this.errors.find((e) => e.field === field)?.message;
  }
}

export const PAGE_LIMIT = 1000; // the API's largest page

export class LogApi {
  constructor(base) {
    this.base = base; // /workflows/{wid}/jobs/{jid}
  }

  async get(path, params = {}, signal = undefined) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
    }
    const url = `${this.base}${path}${query.size ? `?${query}` : ""}`;
    // credentials "include" (same origin: the same cookies) matches the page's preload of the
    // first page, so that request is not made twice
    const response = await fetch(url, { credentials: "include", signal });
    if (!response.ok) {
      let detail = `the server answered ${response.status}`;
      let errors = [];
      try {
        const problem = await response.json();
        detail = problem.detail || detail;
        errors = problem.errors || [];
      } catch (error) { /* not problem+json: keep the status */ }
      throw new ApiError(response.status, detail, errors);
    }
    return response.json();
  }

  // lines after `after` (ascending) or before `before` (descending), of `stream` if given
  page({ after, before, limit, order = "asc", stream }, signal) {
    return this.get("/logs", { after, before, limit, order, stream }, signal);
  }

  // a page of matching lines (`q` absent: the lines of `stream`); the first page has the total
  search({ q, regex, caseSensitive, stream, cursor, order = "asc", limit = PAGE_LIMIT }, signal) {
    return this.get("/logs/search", {
      q,
      regex: regex ? "true" : undefined,
      case_sensitive: caseSensitive ? "true" : undefined,
      stream,
      cursor,
      order,
      limit,
    }, signal);
  }

  summary(signal) {
    return this.get("/logs/summary", {}, signal);
  }

  job(signal) {
    return this.get("", {}, signal);
  }

  eventsUrl(after) {
    return `${this.base}/events${after ? `?after=${after}` : ""}`;
  }

  rawUrl({ format, stream } = {}) {
    const query = new URLSearchParams();
    if (format && format !== "txt") query.set("format", format);
    if (stream) query.set("stream", stream);
    return `${this.base}/logs/raw${query.size ? `?${query}` : ""}`;
  }
}
