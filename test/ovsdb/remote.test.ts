import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RemoteError, RemoteRotation, formatRemote, parseRemote, parseRemotes } from '../../src/ovsdb/remote';

describe('parseRemote', () => {
  it('parses the three active methods', () => {
    assert.deepEqual(parseRemote('unix:/var/run/openvswitch/db.sock'), { kind: 'unix', path: '/var/run/openvswitch/db.sock' });
    assert.deepEqual(parseRemote('tcp:10.0.0.1:6641'), { kind: 'tcp', host: '10.0.0.1', port: 6641 });
    assert.deepEqual(parseRemote('ssl:ovn.example.org:6641'), { kind: 'ssl', host: 'ovn.example.org', port: 6641 });
    assert.deepEqual(parseRemote('tcp:[fd00::1]:6641'), { kind: 'tcp', host: 'fd00::1', port: 6641 });
  });

  it('defaults the port to 6640 like the OVS tools', () => {
    assert.deepEqual(parseRemote('tcp:127.0.0.1'), { kind: 'tcp', host: '127.0.0.1', port: 6640 });
    assert.deepEqual(parseRemote('ssl:[::1]'), { kind: 'ssl', host: '::1', port: 6640 });
  });

  it('round-trips through formatRemote', () => {
    for (const s of ['unix:/x/y.sock', 'tcp:1.2.3.4:6641', 'ssl:[::1]:6642']) assert.equal(formatRemote(parseRemote(s)), s);
  });

  it('rejects malformed remotes, naming what is accepted', () => {
    const bad = ['', '/var/run/db.sock', 'unix:', 'tcp:', 'tcp::6641', 'tcp:host:0', 'tcp:host:70000', 'tcp:host:66a',
      'tcp:fd00::1:6641', 'tcp:[::1', 'tcp:[::1]6641', 'http://x', 'punix:/x', 'ptcp:6641'];
    for (const s of bad) {
      assert.throws(() => parseRemote(s), (err: unknown) => {
        assert.ok(err instanceof RemoteError, s);
        assert.match(err.message, /expected unix:<path>, tcp:<host>:<port> or ssl:<host>:<port>/);
        return true;
      }, s);
    }
    assert.throws(() => parseRemote('punix:/x'), /passive/);
  });
});

describe('parseRemotes / RemoteRotation', () => {
  it('parses a cluster list and rotates through it', () => {
    const list = parseRemotes('tcp:10.0.0.1:6641, tcp:10.0.0.2:6641,ssl:10.0.0.3:6641');
    assert.equal(list.length, 3);
    const rot = new RemoteRotation(list);
    assert.equal(formatRemote(rot.current), 'tcp:10.0.0.1:6641');
    assert.equal(formatRemote(rot.rotate()), 'tcp:10.0.0.2:6641');
    assert.equal(formatRemote(rot.rotate()), 'ssl:10.0.0.3:6641');
    assert.equal(formatRemote(rot.rotate()), 'tcp:10.0.0.1:6641');
  });

  it('rejects empty entries', () => {
    assert.throws(() => parseRemotes('tcp:a:1,,tcp:b:2'), RemoteError);
    assert.throws(() => parseRemotes('tcp:a:1,'), RemoteError);
  });
});
