#!/usr/bin/env node
import { runServerCommand } from './command.js';

process.exitCode = await runServerCommand(process.argv.slice(2));
