// test/kustomize: the kustomize binary for the GitRepo rendering tests, built from Go modules
// by build.sh and cached outside the clone. ensureKustomize() gives its path.
import { goTool } from '../go/tool.ts';

/** The kustomize binary: from `$OUTPOST_KUSTOMIZE_BIN_DIR` when set, else from build.sh
 *  (cached, so only the first run of a machine compiles). Once per process. */
export const ensureKustomize = goTool(import.meta.dirname, 'kustomize', 'OUTPOST_KUSTOMIZE_BIN_DIR');
