type YamlParse = (text: string) => unknown;

/**
 * The text of a config file or a kubeconfig: JSON when it is a JSON object, which is what the
 * chart writes, and YAML otherwise. The YAML parser loads only for YAML, which keeps it off the
 * agent's start-up path in a cluster (docs/performance.md).
 */
export async function parseJsonOrYaml(text: string): Promise<unknown> {
  if (/^\s*\{/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // A YAML flow mapping, or broken JSON: the YAML parser accepts the one and names the line of the other.
    }
  }
  const yaml: { parse?: YamlParse; default?: { parse: YamlParse } } = await import('yaml');
  // yaml is CommonJS for Node: bundled and imported dynamically, its exports are the default.
  const parse = yaml.parse ?? yaml.default!.parse;
  return parse(text);
}
