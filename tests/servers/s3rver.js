// Starts @20minutes/s3rver, which ships no bin script: its lib/cli.js only exports the command.
// Usage: node --openssl-legacy-provider s3rver.js -d DIR -a 127.0.0.1 -p PORT --configure-bucket B
'use strict';
require('@20minutes/s3rver/lib/cli')
  .parseAsync(process.argv)
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
