// Errors with stable codes. Callers match `code`, never `message`.
// The HTTP status travels with the error so every API layer maps it the same way.

export class OutpostError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly details: unknown;

  constructor(code: string, message: string, statusCode = 500, details?: unknown) {
    super(message);
    this.name = 'OutpostError';
    this.code = code;
    this.statusCode = statusCode;
    this.details = details;
  }
}

/** The JSON body of every error the hub sends: `{ code, message, details? }`. */
export interface ErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

export function errorBody(err: OutpostError): ErrorBody {
  const body: ErrorBody = { code: err.code, message: err.message };
  if (err.details !== undefined) body.details = err.details;
  return body;
}

export function isOutpostError(err: unknown): err is OutpostError {
  return err instanceof OutpostError;
}
