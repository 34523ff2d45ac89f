/** The error of an invalid model configuration: names the field, what was expected and what was found. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
