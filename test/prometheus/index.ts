// test/prometheus: the promtool binary for the tests of deploy/monitoring, built from Go
// modules by build.sh and cached outside the clone. ensurePromtool() gives its path.
import { goTool } from '../go/tool.ts';

/** The promtool binary: from `$OUTPOST_PROMTOOL_BIN_DIR` when set, else from build.sh
 *  (cached, so only the first run of a machine compiles). Once per process. */
export const ensurePromtool = goTool(import.meta.dirname, 'promtool', 'OUTPOST_PROMTOOL_BIN_DIR');
