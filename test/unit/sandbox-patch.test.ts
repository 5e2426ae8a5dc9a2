import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PatchError } from '../../testbed/kube-sandbox/patch/errors.ts';
import { applyJsonPatch, escapePointerToken, parsePointer } from '../../testbed/kube-sandbox/patch/json.ts';
import { applyMergePatch, mergePatch } from '../../testbed/kube-sandbox/patch/merge.ts';
import { applyStrategicMergePatch } from '../../testbed/kube-sandbox/patch/strategic.ts';
import { NODE_SCHEMA } from '../../testbed/kube-sandbox/nodes.ts';
import type { Json, JsonObject } from '../../testbed/kube-sandbox/types.ts';

describe('JSON merge patch (RFC 7386)', () => {
  // RFC 7386 Appendix A, every example.
  const cases: [Json, Json, Json][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  it.each(cases)('%j + %j = %j', (target, patch, expected) => {
    const before = structuredClone(target);
    expect(mergePatch(target, patch)).toEqual(expected);
    expect(target).toEqual(before);
  });

  it('rejects a patch that is not an object when patching an object', () => {
    expect(() => applyMergePatch({ a: 1 }, [1])).toThrow(PatchError);
  });

  it('is idempotent', () => {
    const json = fc.jsonValue() as fc.Arbitrary<Json>;
    fc.assert(
      fc.property(json, json, (t, p) => {
        const once = mergePatch(t, p);
        expect(mergePatch(once, p)).toEqual(once);
      }),
    );
  });
});

describe('JSON patch (RFC 6902)', () => {
  // RFC 6902 Appendix A.
  const ok: [string, Json, unknown[], Json][] = [
    ['A.1 add an object member', { foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }], { baz: 'qux', foo: 'bar' }],
    ['A.2 add an array element', { foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }], { foo: ['bar', 'qux', 'baz'] }],
    ['A.3 remove an object member', { baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }], { foo: 'bar' }],
    ['A.4 remove an array element', { foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }], { foo: ['bar', 'baz'] }],
    ['A.5 replace a value', { baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }], { baz: 'boo', foo: 'bar' }],
    [
      'A.6 move a value',
      { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
      [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
      { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
    ],
    ['A.7 move an array element', { foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }], { foo: ['all', 'cows', 'eat', 'grass'] }],
    [
      'A.8 test a value: success',
      { baz: 'qux', foo: ['a', 2, 'c'] },
      [
        { op: 'test', path: '/baz', value: 'qux' },
        { op: 'test', path: '/foo/1', value: 2 },
      ],
      { baz: 'qux', foo: ['a', 2, 'c'] },
    ],
    ['A.10 add a nested member object', { foo: 'bar' }, [{ op: 'add', path: '/child', value: { grandchild: {} } }], { foo: 'bar', child: { grandchild: {} } }],
    ['A.11 ignore unrecognized elements', { foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }], { foo: 'bar', baz: 'qux' }],
    ['A.14 ~ escape ordering', { '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: 10 }], { '/': 9, '~1': 10 }],
    ['A.16 add an array value', { foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }], { foo: ['bar', ['abc', 'def']] }],
    ['copy', { a: { b: 1 } }, [{ op: 'copy', from: '/a', path: '/c' }], { a: { b: 1 }, c: { b: 1 } }],
    ['replace the root', { a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }], { b: 2 }],
    ['label key with a slash', { metadata: { labels: {} } }, [{ op: 'add', path: '/metadata/labels/example.com~1zone', value: '1' }], { metadata: { labels: { 'example.com/zone': '1' } } }],
    ['remove a label key with ~', { l: { 'a~b': 'x', c: 'y' } }, [{ op: 'remove', path: '/l/a~0b' }], { l: { c: 'y' } }],
  ];
  it.each(ok)('%s', (_name, doc, patch, expected) => {
    const before = structuredClone(doc);
    expect(applyJsonPatch(doc, patch)).toEqual(expected);
    expect(doc).toEqual(before);
  });

  const failing: [string, Json, unknown[]][] = [
    ['A.9 test a value: error', { baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }]],
    ['A.12 add to a nonexistent target', { foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }]],
    ['A.15 comparing strings and numbers', { '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: '10' }]],
    ['remove a missing member', { a: 1 }, [{ op: 'remove', path: '/b' }]],
    ['replace a missing member', { a: 1 }, [{ op: 'replace', path: '/b', value: 2 }]],
    ['array index out of range', { a: [1] }, [{ op: 'add', path: '/a/3', value: 2 }]],
    ['leading zero index', { a: [1, 2] }, [{ op: 'remove', path: '/a/01' }]],
    ['move into own child', { a: { b: {} } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]],
    ['unknown op', { a: 1 }, [{ op: 'frobnicate', path: '/a' }]],
    ['add without value', { a: 1 }, [{ op: 'add', path: '/b' }]],
    ['test on a missing path', { a: 1 }, [{ op: 'test', path: '/b', value: null }]],
    ['bad escape', { a: 1 }, [{ op: 'add', path: '/~2', value: 1 }]],
  ];
  it.each(failing)('%s fails and changes nothing', (_name, doc, patch) => {
    const before = structuredClone(doc);
    expect(() => applyJsonPatch(doc, patch)).toThrow(PatchError);
    expect(doc).toEqual(before);
  });

  it('is atomic: a failing test leaves earlier operations unapplied', () => {
    const doc = { a: 1 };
    expect(() =>
      applyJsonPatch(doc, [
        { op: 'add', path: '/b', value: 2 },
        { op: 'test', path: '/a', value: 2 },
      ]),
    ).toThrow(/test failed/);
    expect(doc).toEqual({ a: 1 });
  });

  it('a patch document that is not a list is malformed (400), not unappliable (422)', () => {
    try {
      applyJsonPatch({}, { op: 'add' });
      expect.unreachable();
    } catch (err) {
      expect((err as PatchError).kind).toBe('bad');
    }
  });

  it('pointer escaping round-trips any key', () => {
    fc.assert(
      fc.property(fc.string(), (key) => {
        expect(parsePointer(`/${escapePointerToken(key)}`)).toEqual([key]);
        expect(applyJsonPatch({}, [{ op: 'add', path: `/${escapePointerToken(key)}`, value: 1 }])).toEqual({ [key]: 1 });
      }),
    );
  });
});

const node = (): JsonObject => ({
  kind: 'Node',
  apiVersion: 'v1',
  metadata: { name: 'n1', labels: { a: '1', b: '2' }, finalizers: ['x', 'y'] },
  spec: { taints: [{ key: 't1', effect: 'NoSchedule' }], podCIDRs: ['10.0.0.0/24'] },
  status: {
    conditions: [
      { type: 'Ready', status: 'True' },
      { type: 'DiskPressure', status: 'False' },
    ],
  },
});

describe('strategic merge patch', () => {
  const cases: [string, unknown, (n: JsonObject) => void][] = [
    ['maps merge', { metadata: { labels: { c: '3' } } }, (n) => expect((n.metadata as JsonObject).labels).toEqual({ a: '1', b: '2', c: '3' })],
    ['null deletes a key', { metadata: { labels: { a: null } } }, (n) => expect((n.metadata as JsonObject).labels).toEqual({ b: '2' })],
    ['$patch: replace replaces a map', { metadata: { labels: { $patch: 'replace', z: '9' } } }, (n) => expect((n.metadata as JsonObject).labels).toEqual({ z: '9' })],
    ['$patch: delete empties a map', { metadata: { labels: { $patch: 'delete' } } }, (n) => expect((n.metadata as JsonObject).labels).toEqual({})],
    [
      // The order kube-apiserver v1.37 answers with (patch items interleaved by server order, new ones first).
      'conditions merge by type, in the API server\'s order',
      { status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'PIDPressure', status: 'False' }] } },
      (n) =>
        expect((n.status as JsonObject).conditions).toEqual([
          { type: 'Ready', status: 'False' },
          { type: 'PIDPressure', status: 'False' },
          { type: 'DiskPressure', status: 'False' },
        ]),
    ],
    [
      'a condition new to the list goes first; one changed in place keeps its position',
      { status: { conditions: [{ type: 'example.com/Mine', status: 'True' }, { type: 'DiskPressure', status: 'True' }] } },
      (n) =>
        expect((n.status as JsonObject).conditions).toEqual([
          { type: 'example.com/Mine', status: 'True' },
          { type: 'Ready', status: 'True' },
          { type: 'DiskPressure', status: 'True' },
        ]),
    ],
    [
      '$patch: delete removes a list item by merge key',
      { status: { conditions: [{ type: 'DiskPressure', $patch: 'delete' }] } },
      (n) => expect((n.status as JsonObject).conditions).toEqual([{ type: 'Ready', status: 'True' }]),
    ],
    [
      'a {"$patch":"replace"} item replaces the list',
      { status: { conditions: [{ $patch: 'replace' }, { type: 'X', status: 'True' }] } },
      (n) => expect((n.status as JsonObject).conditions).toEqual([{ type: 'X', status: 'True' }]),
    ],
    [
      'spec.taints has no patch strategy in v1.Node: the list is replaced',
      { spec: { taints: [{ key: 't2', effect: 'NoExecute' }] } },
      (n) => expect((n.spec as JsonObject).taints).toEqual([{ key: 't2', effect: 'NoExecute' }]),
    ],
    ['finalizers merge as a set', { metadata: { finalizers: ['y', 'z'] } }, (n) => expect((n.metadata as JsonObject).finalizers).toEqual(['x', 'y', 'z'])],
    [
      '$deleteFromPrimitiveList removes values',
      { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } },
      (n) => expect((n.metadata as JsonObject).finalizers).toEqual(['y']),
    ],
    [
      '$setElementOrder orders a merged list',
      { status: { '$setElementOrder/conditions': [{ type: 'DiskPressure' }, { type: 'Ready' }] } },
      (n) => expect(((n.status as JsonObject).conditions as JsonObject[]).map((c) => c.type)).toEqual(['DiskPressure', 'Ready']),
    ],
    ['$retainKeys drops unlisted keys', { spec: { $retainKeys: ['podCIDRs'] } }, (n) => expect(n.spec).toEqual({ podCIDRs: ['10.0.0.0/24'] })],
    ['a new map is added with directives resolved', { metadata: { annotations: { k: 'v', gone: null } } }, (n) => expect((n.metadata as JsonObject).annotations).toEqual({ k: 'v' })],
    ['primitives replace', { spec: { unschedulable: true } }, (n) => expect((n.spec as JsonObject).unschedulable).toBe(true)],
  ];
  it.each(cases)('%s', (_name, patch, check) => {
    const original = node();
    const before = structuredClone(original);
    check(applyStrategicMergePatch(original, patch, NODE_SCHEMA));
    expect(original).toEqual(before);
  });

  it('is a plain merge for an empty schema, except lists replace', () => {
    expect(applyStrategicMergePatch({ a: { b: 1, c: [1] } }, { a: { d: 2, c: [2] } })).toEqual({ a: { b: 1, c: [2], d: 2 } });
  });

  it.each([
    ['an unknown directive', { metadata: { labels: { $patch: 'frob' } } }],
    ['an item without its merge key', { status: { conditions: [{ status: 'True' }] } }],
    ['a patch that is not an object', ['x']],
  ])('rejects %s as a bad request', (_name, patch) => {
    try {
      applyStrategicMergePatch(node(), patch, NODE_SCHEMA);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PatchError);
      expect((err as PatchError).kind).toBe('bad');
    }
  });

  it('label-only patches agree with JSON merge patch', () => {
    const labels = fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), fc.option(fc.stringMatching(/^[a-z0-9]{0,5}$/), { nil: null }));
    fc.assert(
      fc.property(labels, (l) => {
        const patch = { metadata: { labels: l } };
        expect(applyStrategicMergePatch(node(), patch, NODE_SCHEMA)).toEqual(mergePatch(node(), patch));
      }),
    );
  });
});

describe('keys that are also Object.prototype names', () => {
  it.each(['__proto__', 'constructor', 'toString'])('"%s" is stored as an ordinary key by every patch type', (key) => {
    const expected = JSON.parse(`{"${key}":1}`) as JsonObject;
    expect(applyJsonPatch({}, [{ op: 'add', path: `/${key}`, value: 1 }])).toEqual(expected);
    expect(applyMergePatch({}, JSON.parse(`{"${key}":1}`))).toEqual(expected);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
