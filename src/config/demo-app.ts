/** App credentials the bundled emulator accepts in demo mode. Not secrets: demo only. */
export const DEMO_APP_ID = '990000000000001';
export const DEMO_APP_SECRET = 'demo-app-secret-not-for-production';
