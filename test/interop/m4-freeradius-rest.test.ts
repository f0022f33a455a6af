/**
 * FreeRADIUS (Debian's freeradius with freeradius-rest) consulting M4's
 * authorize endpoint through rlm_rest, configured as docs/en/credential-misuse.md
 * says: a subscriber authenticates; once the ID is suspended, FreeRADIUS
 * rejects it; after the password-change call, it accepts it again. radclient
 * plays the NAS. Loopback only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { have } from '../support/flow-peers.js';
import { casesFor } from '../../src/notify/cases.js';
import { ALL_MEASURES } from '../../src/measures/index.js';
import { tempDir, testConfig } from '../support/fixtures.js';
import { freePort, startFreeRadius, type FreeRadius } from '../support/freeradius.js';

const RLM_REST = '/usr/lib/freeradius/rlm_rest.so';

function radclientAuth(port: number, user: string, password: string): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('radclient', ['-x', '-r', '1', '-t', '3', `127.0.0.1:${port}`, 'auth', 'nas-secret'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    p.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    p.on('close', () => resolve(out));
    p.stdin.end(`User-Name = "${user}"\nUser-Password = "${password}"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "cpe-1"\n`);
  });
}

const available = () => {
  const ok = existsSync(RLM_REST) && existsSync('/etc/freeradius/3.0/radiusd.conf');
  if (!ok && process.env.CI === 'true')
    throw new Error('freeradius and freeradius-rest must be installed in CI (see test/debian-packages.txt)');
  return ok && have('radclient') && have('freeradius');
};

describe('FreeRADIUS rlm_rest against M4', { skip: !available() && 'freeradius-rest not installed' }, () => {
  let server: Server;
  let radiusd: FreeRadius | undefined;
  let authPort: number;
  let aaa: string;
  const dir = join(tempDir(), 'raddb');

  before(async () => {
    server = await serve(testConfig(join(tempDir(), 'data'), 'server:\n  port: 0\nmeasures:\n  credential-misuse: { enabled: true }\n'), {
      out: new PassThrough(),
      logger: createLogger('silent'),
    });
    aaa = (await server.mamori.accounts.createToken('module:test', 'freeradius', 'aaa')).token;
    authPort = await freePort();
    radiusd = await startFreeRadius(dir, {
      mods: {
        mamori: `rest mamori {
	connect_uri = "${server.url}"
	authorize {
		uri = "\${..connect_uri}/api/v1/aaa/authorize"
		method = 'post'
		body = 'json'
	}
	post-auth {
		uri = "\${..connect_uri}/api/v1/aaa/post-auth/accept"
		method = 'post'
		body = 'json'
	}
	pool {
		start = 0
		min = 0
		max = 4
	}
}
`,
      },
      files: { 'mods-config/files/authorize': 'alice@isp Cleartext-Password := "correct-horse"\n' },
      site: `server mamori-test {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = ${authPort}
	}
	authorize {
		update control {
			&REST-HTTP-Header += "Authorization: Bearer ${aaa}"
		}
		mamori {
			fail = 1
		}
		files
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
	}
	post-auth {
		update control {
			&REST-HTTP-Header += "Authorization: Bearer ${aaa}"
		}
		mamori {
			fail = 1
		}
	}
}
`,
      clients: 'client localhost {\n ipaddr = 127.0.0.1\n secret = nas-secret\n}\n',
    });
  });
  after(async () => {
    await radiusd?.stop();
    await server?.close();
  });

  it('accepts the subscriber while the ID is not suspended', async () => {
    assert.match(await radclientAuth(authPort, 'alice@isp', 'correct-horse'), /Access-Accept/);
  });

  it('rejects the ID while M4 has it suspended, and accepts it again after the password change', async () => {
    // A case and a suspension as M4's response writes them (the detection itself is tested in m4-service).
    const m4 = ALL_MEASURES.find((m) => m.declaration.code === 'M4')!.declaration;
    const { case: c } = await casesFor(server.mamori.state, server.mamori.audit, m4, {
      dedupeSeconds: 86_400,
      escalateAfterRepeats: 3,
    }).open({ kind: 'credential-misuse', subscriber: 'alice@isp', summary: 'impossible travel' });
    await server.mamori.state.db
      .insertInto('m4_suspensions' as never)
      .values({
        account: 'alice@isp',
        since: new Date().toISOString(),
        until: new Date(Date.now() + 86_400_000).toISOString(),
        case_id: c.id,
        detector: 'travel',
        lifted_at: null,
        lifted_by: null,
        reminded: 0,
      } as never)
      .execute();
    const rejected = await radclientAuth(authPort, 'alice@isp', 'correct-horse');
    assert.match(rejected, /Access-Reject/);
    assert.match(rejected, /suspended/, 'the Reply-Message explains why');
    const lifted = await server.app.inject({
      method: 'POST',
      url: '/api/v1/measures/credential-misuse/aaa/password-changed',
      headers: { authorization: `Bearer ${aaa}` },
      payload: { account: 'alice@isp' },
    });
    assert.deepEqual(lifted.json(), { lifted: true });
    assert.match(await radclientAuth(authPort, 'alice@isp', 'correct-horse'), /Access-Accept/);
  });
});
