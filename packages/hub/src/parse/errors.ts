// The one error of the parsers: a stable code the API turns into its answer and the CLI
// into CLI_FILE_INVALID.
import { apiError, type OutpostError } from '@outpost/shared';

export type ParseErrorCode = 'BODY_MALFORMED' | 'BODY_TOO_DEEP';

export class ParseError extends Error {
  readonly code: ParseErrorCode;

  constructor(code: ParseErrorCode, message: string) {
    super(message);
    this.name = 'ParseError';
    this.code = code;
  }

  toApiError(): OutpostError {
    return apiError(this.code, this.message);
  }
}
