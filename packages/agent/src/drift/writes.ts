// The agent's own writes, as the drift watcher must know them: an event caused by the
// agent's own apply or delete is not drift. A KubeRest wrapped around the applier's
// tells the watcher every object a write answered with (its uid and resourceVersion) and
// every UID the agent asked to delete (DELETEs carry a UID precondition), before the
// watch event about it can matter.
import type { KubeObject } from '../apply/kube.ts';
import type { KubeRequest, KubeResponse, KubeRest } from '../apply/rest.ts';

export interface WriteSink {
  /** A write of the agent answered with `object`; `created`: the answer was 201. */
  wrote(object: KubeObject, created: boolean): void;
  /** The agent is deleting the object with this UID. */
  deleting(uid: string): void;
}

const isWrite = (m: KubeRequest['method']) => m === 'PATCH' || m === 'PUT' || m === 'POST';

/** `rest`, telling `sink` about every successful write and every delete. */
export function recordWrites(rest: KubeRest, sink: WriteSink): KubeRest {
  return {
    async request(req) {
      if (req.method === 'DELETE') {
        const uid = (req.body as { preconditions?: { uid?: string } } | undefined)?.preconditions?.uid;
        if (uid) sink.deleting(uid);
      }
      const res: KubeResponse = await rest.request(req);
      if (isWrite(req.method) && (res.status === 200 || res.status === 201) && isObject(res.body)) {
        sink.wrote(res.body as KubeObject, res.status === 201);
      }
      return res;
    },
  };
}

const isObject = (v: unknown) => !!v && typeof v === 'object' && typeof (v as KubeObject).metadata?.uid === 'string';
