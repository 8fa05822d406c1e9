/**
 * Certificates and keys of the test control plane, made with openssl: a CA, the API
 * server's serving certificate, client certificates for the admin and each component, and
 * the service-account signing key pair.
 *
 * @module
 */

async function openssl(args: string[], cwd: string): Promise<void> {
  const output = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`openssl ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
}

/** A client identity: certificate common name and organization. */
export interface ClientIdentity {
  file: string;
  cn: string;
  org?: string;
}

/** The client identities the control plane needs. */
export const CLIENTS: ClientIdentity[] = [
  { file: "admin", cn: "kt-admin", org: "system:masters" },
  { file: "controller-manager", cn: "system:kube-controller-manager" },
  { file: "scheduler", cn: "system:kube-scheduler" },
  { file: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", org: "system:masters" },
  { file: "node", cn: "system:node:kt-node", org: "system:nodes" },
];

/**
 * Writes ca.{crt,key}, apiserver.{crt,key}, kubelet.{crt,key} (the node's serving
 * certificate, for the node IP 10.88.0.1), <client>.{crt,key} and sa.{key,pub} into `dir`.
 */
export async function makeCertificates(dir: string): Promise<void> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "7",
    "-subj",
    "/CN=kt-deno-test-ca",
  ], dir);
  const sign = async (name: string, subject: string, extensions: string) => {
    await Deno.writeTextFile(`${dir}/${name}.ext`, extensions);
    await openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subject,
    ], dir);
    await openssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "7",
      "-extfile",
      `${name}.ext`,
    ], dir);
  };
  await sign(
    "apiserver",
    "/CN=kube-apiserver",
    "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n",
  );
  await sign(
    "kubelet",
    "/CN=kt-node",
    "subjectAltName=IP:10.88.0.1,DNS:kt-node\nextendedKeyUsage=serverAuth\n",
  );
  for (const client of CLIENTS) {
    await sign(
      client.file,
      `/CN=${client.cn}${client.org ? `/O=${client.org}` : ""}`,
      "extendedKeyUsage=clientAuth\n",
    );
  }
  await openssl(["genrsa", "-out", "sa.key", "2048"], dir);
  await openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
}

function base64(text: string): string {
  return btoa(text);
}

/** A kubeconfig with the certificates embedded, usable by kubectl and client libraries as is. */
export async function kubeconfig(dir: string, server: string, client: string): Promise<string> {
  const read = (file: string) => Deno.readTextFile(`${dir}/${file}`);
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "kt-test",
        cluster: { server, "certificate-authority-data": base64(await read("ca.crt")) },
      }],
      users: [{
        name: client,
        user: {
          "client-certificate-data": base64(await read(`${client}.crt`)),
          "client-key-data": base64(await read(`${client}.key`)),
        },
      }],
      contexts: [{
        name: "kt-test",
        context: { cluster: "kt-test", user: client, namespace: "default" },
      }],
      "current-context": "kt-test",
    },
    null,
    2,
  );
}
