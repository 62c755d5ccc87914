// test/helm: the helm binary for chart tests, built from Go modules by build.sh and cached
// outside the clone. ensureHelm() gives its path.
import { goTool } from '../go/tool.ts';

/** The helm binary: from `$OUTPOST_HELM_BIN_DIR` when set, else from build.sh (cached, so
 *  only the first run of a machine compiles). Once per process. */
export const ensureHelm = goTool(import.meta.dirname, 'helm', 'OUTPOST_HELM_BIN_DIR');
