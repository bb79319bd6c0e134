/**
 * V8 settings the job sets for itself, first thing in dist/main.js (so that `node dist/main.js`
 * runs as the image does, with no flag to remember).
 *
 * Allocation-site pretenuring off: V8 moves an allocation site to the old generation once most of
 * its objects outlive a young-generation collection. A send's objects (request, answer, outcome)
 * live as long as its round trip, so under load many sites were pretenured and filled the old
 * generation with objects that die a moment later, each needing a full mark-compact to reclaim
 * (bench/NOTES.md, "Profile: hot spots found and what was changed"). Set at run time, it applies to the collections that follow
 * (V8 reads it at each one).
 */
import { setFlagsFromString } from "node:v8"

setFlagsFromString("--no-allocation-site-pretenuring")
