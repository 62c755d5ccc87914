// Durable file writes shared by the file-backed credential and state stores.
import { open } from 'node:fs/promises';

/** fsyncs a directory, so a rename inside it survives a power cut. */
export async function syncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
