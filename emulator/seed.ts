import type { EmulatorAccount } from './account';

/**
 * Demo accounts. Ids are shaped like Meta's: 17-digit professional ids starting 178414, and
 * app-scoped ids of 16–17 digits, some above 2^53 (9007199254740992) so that any code parsing
 * them as numbers gets caught.
 */
export function seedAccounts(): EmulatorAccount[] {
  return [
    {
      userId: '17841405822304914',
      appScopedId: '9007199254740993',
      username: 'metricsaurus',
      name: 'Metricsaurus',
      accountType: 'Business',
      biography: 'Dino data crunching app',
      website: 'http://www.metricsaurus.com/',
      followersCount: 1200,
      followsCount: 80,
      mediaCount: 42,
      hasProfilePicture: true,
      pictureVersion: 1,
      pictureKind: 'png',
    },
    {
      userId: '17841463195712048',
      appScopedId: '26181203548593114',
      username: 'lena.bakes',
      name: 'Lena Okafor | Home Baking',
      accountType: 'Media_Creator',
      biography: 'Sourdough every Sunday 🍞 Recipes, classes and flour-covered mistakes.',
      website: 'https://lenabakes.example.com/',
      followersCount: 48213,
      followsCount: 512,
      mediaCount: 387,
      hasProfilePicture: true,
      pictureVersion: 1,
      pictureKind: 'png',
    },
    {
      userId: '17841452983315520',
      appScopedId: '8423156642019873',
      username: 'northwind.coffee',
      name: 'Northwind Coffee Roasters',
      accountType: 'Business',
      biography: 'Small-batch roastery. Wholesale & subscriptions.',
      website: 'https://northwind-coffee.example.com/shop',
      followersCount: 9150,
      followsCount: 231,
      mediaCount: 1204,
      hasProfilePicture: true,
      pictureVersion: 1,
      pictureKind: 'png',
    },
  ];
}
